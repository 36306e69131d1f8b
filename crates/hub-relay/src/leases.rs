//! Quota leases: how a node holds quota without a database round trip per request.
//!
//! A request must hold its estimated cost before the upstream call, so that no number of
//! concurrent requests on any number of nodes can spend more than the balance. Doing that with
//! one conditional `UPDATE … WHERE quota >= n` per request is exact but puts a database write
//! (or at least a read) on every request's hot path.
//!
//! Instead each node takes a *lease*: one conditional decrement moves a chunk (several
//! estimates) of the balance from the database into this node's memory, and requests are held
//! from it under a short mutex. The database never goes below zero and the sum of every node's
//! leases and holds never exceeds the balance, exactly as with per-request holds. What is left
//! of a lease goes back to the database with every billing flush (`BILLING_FLUSH_MS`) and on a
//! clean stop; under steady traffic a new lease is taken soon after, so a balance read through
//! the admin API is short by roughly one chunk per busy node.
//!
//! Chunks start at 4 estimates and double on each refill while the lease is in use (up to 256
//! estimates); a lease is only taken from a balance of at least four chunks, so one node never
//! takes most of a balance that other nodes share. Below that, a request takes from the database
//! exactly what its lease is missing (one write each): a nearly empty balance is served until
//! what is left (in the database and in this node's lease) no longer covers an estimate.

use std::{collections::HashMap, sync::Mutex};

/// Whose quota a lease draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `tokens.remain_quota` of a limited token.
    Token,
    /// `users.quota`.
    User,
}

/// The first chunk, in estimates.
const START: i64 = 4;
/// The largest chunk, in estimates.
const MAX: i64 = 256;

#[derive(Debug, Default)]
struct Lease {
    /// Taken from the database and not yet held by a request.
    avail: i64,
    /// The next chunk, in estimates; 1 = exact mode (the balance could not cover a chunk).
    mult: i64,
    /// Drawn on since the last return.
    used: bool,
    /// The database balance this node last saw (after its last conditional update there),
    /// kept current as this node's lease goes back; `None` until seen. `seen + avail` is this
    /// node's view of the balance (the quota warning's "before").
    seen: Option<i64>,
}

/// Every lease of this node.
#[derive(Debug, Default)]
pub struct Leases {
    map: Mutex<HashMap<(Kind, i64), Lease>>,
    /// Drained by the billing writer and not committed yet: still the balance's, in neither the
    /// database nor a lease for the length of a flush.
    returning: Mutex<HashMap<(Kind, i64), i64>>,
}

/// What [`Leases::drain`] hands back to the database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Returned {
    pub tokens: Vec<(i64, i64)>,
    pub users: Vec<(i64, i64)>,
}

impl Leases {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<(Kind, i64), Lease>) -> R) -> R {
        f(&mut self.map.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Holds `amount` from the lease when it covers it (no database call).
    pub fn take(&self, kind: Kind, id: i64, amount: i64) -> bool {
        self.with(|m| match m.get_mut(&(kind, id)) {
            Some(l) if l.avail >= amount => {
                l.avail -= amount;
                l.used = true;
                true
            }
            _ => false,
        })
    }

    /// Like [`Leases::take`], and also returns this node's view of the balance before the take
    /// (the database balance last seen plus the lease; `None` when never seen): `None` when
    /// the lease does not cover `amount`.
    pub fn take_seen(&self, kind: Kind, id: i64, amount: i64) -> Option<Option<i64>> {
        self.with(|m| match m.get_mut(&(kind, id)) {
            Some(l) if l.avail >= amount => {
                let before = l.seen.map(|s| s.saturating_add(l.avail));
                l.avail -= amount;
                l.used = true;
                Some(before)
            }
            _ => None,
        })
    }

    /// Records the database balance just seen (after a conditional update or a read).
    pub fn observe(&self, kind: Kind, id: i64, db_balance: i64) {
        self.with(|m| m.entry((kind, id)).or_default().seen = Some(db_balance));
    }

    /// The chunk to take from the database for a request of `amount` the lease did not cover.
    pub fn chunk(&self, kind: Kind, id: i64, amount: i64) -> i64 {
        let mult = self.with(|m| {
            let l = m.entry((kind, id)).or_default();
            if l.mult == 0 {
                l.mult = START;
            }
            l.mult
        });
        amount.saturating_mul(mult)
    }

    /// A chunk was taken from the database into the lease (the next one will be twice as big).
    pub fn refilled(&self, kind: Kind, id: i64, chunk: i64) {
        self.with(|m| {
            let l = m.entry((kind, id)).or_default();
            l.avail += chunk;
            l.used = true;
            if l.mult != 1 {
                l.mult = (l.mult.max(START) * 2).min(MAX);
            }
        });
    }

    /// Holds as much of `amount` as the lease has, up to `amount`; returns what was held.
    pub fn take_up_to(&self, kind: Kind, id: i64, amount: i64) -> i64 {
        if amount <= 0 {
            return 0;
        }
        self.with(|m| match m.get_mut(&(kind, id)) {
            Some(l) if l.avail > 0 => {
                let n = l.avail.min(amount);
                l.avail -= n;
                l.used = true;
                n
            }
            _ => 0,
        })
    }

    /// The balance could not cover a grown chunk: start again from the first size. False when
    /// the chunk already was the first size.
    pub fn shrink(&self, kind: Kind, id: i64) -> bool {
        self.with(|m| {
            let l = m.entry((kind, id)).or_default();
            if l.mult > START {
                l.mult = START;
                true
            } else {
                false
            }
        })
    }

    /// The balance could not cover a chunk: hold exact amounts until the next return.
    pub fn exact(&self, kind: Kind, id: i64) {
        self.with(|m| m.entry((kind, id)).or_default().mult = 1);
    }

    /// Gives a hold back to the lease (its request failed); it reaches the database with the
    /// next return.
    pub fn put_back(&self, kind: Kind, id: i64, amount: i64) {
        if amount > 0 {
            self.with(|m| m.entry((kind, id)).or_default().avail += amount);
        }
    }

    /// Takes every unused lease out, to be credited back to the database (see
    /// [`Leases::committed`]). A lease drawn on since the last return keeps its chunk size; an
    /// idle one is forgotten.
    pub fn drain(&self) -> Returned {
        let out = self.drain_leases();
        let mut returning = self.returning.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, list) in [(Kind::Token, &out.tokens), (Kind::User, &out.users)] {
            for (id, amount) in list {
                *returning.entry((kind, *id)).or_default() += amount;
            }
        }
        out
    }

    /// Everything drained so far reached the database.
    pub fn committed(&self) {
        self.returning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// What is certainly still in one balance beyond its database value: this node's lease and
    /// what is on its way back from it (for the "exhausted" check, never for holding).
    pub fn spendable(&self, kind: Kind, id: i64) -> i64 {
        let returning = self
            .returning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kind, id))
            .copied()
            .unwrap_or(0);
        self.available(kind, id).saturating_add(returning)
    }

    fn drain_leases(&self) -> Returned {
        let mut out = Returned::default();
        self.with(|m| {
            m.retain(|&(kind, id), l| {
                if l.avail > 0 {
                    match kind {
                        Kind::Token => out.tokens.push((id, l.avail)),
                        Kind::User => out.users.push((id, l.avail)),
                    }
                    // It goes back to the database balance.
                    if let Some(seen) = l.seen.as_mut() {
                        *seen = seen.saturating_add(l.avail);
                    }
                    l.avail = 0;
                }
                let keep = l.used;
                l.used = false;
                if l.mult == 1 {
                    l.mult = START;
                }
                keep
            });
        });
        out
    }

    /// What this node holds of one balance, leased and unused.
    pub fn available(&self, kind: Kind, id: i64) -> i64 {
        self.with(|m| m.get(&(kind, id)).map_or(0, |l| l.avail))
    }

    /// Quota currently leased and unused, for `/api/billing/status`-style reports and tests.
    pub fn outstanding(&self) -> i64 {
        self.with(|m| m.values().map(|l| l.avail).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_grow_then_reset_when_idle() {
        let l = Leases::default();
        assert!(!l.take(Kind::User, 1, 10));
        assert_eq!(l.chunk(Kind::User, 1, 10), 40);
        l.refilled(Kind::User, 1, 40);
        assert!(l.take(Kind::User, 1, 10));
        for _ in 0..3 {
            assert!(l.take(Kind::User, 1, 10));
        }
        assert!(!l.take(Kind::User, 1, 10));
        assert_eq!(l.chunk(Kind::User, 1, 10), 80);
        l.refilled(Kind::User, 1, 80);
        assert!(l.take(Kind::User, 1, 10));
        assert_eq!(l.outstanding(), 70);
        assert_eq!(
            l.drain(),
            Returned {
                tokens: vec![],
                users: vec![(1, 70)]
            }
        );
        assert_eq!(l.outstanding(), 0);
        // Still drawn on last interval: the chunk size is kept once, then forgotten when idle.
        assert_eq!(l.chunk(Kind::User, 1, 10), 160);
        assert_eq!(l.drain(), Returned::default());
        assert_eq!(l.drain(), Returned::default());
        assert_eq!(l.chunk(Kind::User, 1, 10), 40);
    }

    #[test]
    fn the_seen_balance_follows_the_lease() {
        let l = Leases::default();
        l.refilled(Kind::User, 3, 400);
        assert_eq!(l.take_seen(Kind::User, 3, 100), Some(None), "never seen");
        l.observe(Kind::User, 3, 1_000);
        // 1,000 in the database, 300 in the lease.
        assert_eq!(l.take_seen(Kind::User, 3, 100), Some(Some(1_300)));
        assert_eq!(l.take_seen(Kind::User, 3, 500), None);
        l.put_back(Kind::User, 3, 50);
        assert_eq!(l.take_seen(Kind::User, 3, 50), Some(Some(1_250)));
        // The lease goes back to the database: the view is unchanged.
        l.drain();
        l.refilled(Kind::User, 3, 100);
        l.observe(Kind::User, 3, 1_100);
        assert_eq!(l.take_seen(Kind::User, 3, 10), Some(Some(1_200)));
    }

    #[test]
    fn exact_mode_until_the_next_return() {
        let l = Leases::default();
        l.exact(Kind::Token, 7);
        assert_eq!(l.chunk(Kind::Token, 7, 25), 25);
        l.put_back(Kind::Token, 7, 25);
        assert!(
            l.take(Kind::Token, 7, 25),
            "a given-back hold can be held again"
        );
        l.put_back(Kind::Token, 7, 25);
        assert_eq!(
            l.drain(),
            Returned {
                tokens: vec![(7, 25)],
                users: vec![]
            }
        );
        assert_eq!(l.chunk(Kind::Token, 7, 25), 100);
        assert_eq!(l.chunk(Kind::User, 7, 25), 100, "kinds are separate");
        l.put_back(Kind::Token, 7, 30);
        assert_eq!(l.take_up_to(Kind::Token, 7, 100), 30);
        assert_eq!(l.take_up_to(Kind::Token, 7, 100), 0);
    }

    #[test]
    fn chunk_size_is_capped() {
        let l = Leases::default();
        for _ in 0..20 {
            let c = l.chunk(Kind::User, 3, 2);
            l.refilled(Kind::User, 3, c);
        }
        assert_eq!(l.chunk(Kind::User, 3, 2), 2 * MAX);
        assert_eq!(l.chunk(Kind::User, 3, i64::MAX), i64::MAX);
    }
}
