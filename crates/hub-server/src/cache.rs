//! Redis connection (`REDIS_CONN_STRING`, `REDIS_DB`). Connected and pinged at start-up; a
//! failed ping stops start-up, as in One Hub.

use redis::aio::ConnectionManager;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("REDIS_CONN_STRING is not a valid redis:// or rediss:// URL: {0}")]
    Url(String),
    #[error("cannot reach Redis at {0}: {1}")]
    Connect(String, String),
}

/// Connects with `db` overriding any database in the URL (One Hub's `REDIS_DB` rule) and pings.
pub async fn connect(url: &str, db: i64) -> Result<(redis::Client, ConnectionManager), RedisError> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| RedisError::Url(e.to_string()))?;
    let redis_settings = info.redis_settings().clone().set_db(db);
    let info = info.set_redis_settings(redis_settings);
    let client = redis::Client::open(info).map_err(|e| RedisError::Url(e.to_string()))?;
    let mut cm = ConnectionManager::new(client.clone())
        .await
        .map_err(|e| RedisError::Connect(hub_core::redact::url(url), e.to_string()))?;
    let _: String = redis::cmd("PING")
        .query_async(&mut cm)
        .await
        .map_err(|e| RedisError::Connect(hub_core::redact::url(url), e.to_string()))?;
    Ok((client, cm))
}
