// Channel types (渠道类型) and what each needs in the editor: the default base URL (empty =
// required), the key's format (split into labelled parts where it is `a|b|c`), the meaning
// of `other`, and a note. Ids and names follow hub-core's `channel_types.rs`.

/**
 * [id, name, {base, key, parts, other, otherParts, json, note}]
 * base: default base URL ('' = must be given); key: [zh, en] key hint; parts: labels of the
 * `|`-joined key parts (optional ones end in '?'); other / otherParts: the `other` field;
 * json: the key is a JSON document stored on one line.
 */
export const TYPES = [
  [1, 'OpenAI', { base: 'https://api.openai.com' }],
  [3, 'Azure OpenAI', { base: '', key: ['Azure 密钥 (api-key)', 'Azure key (api-key)'], other: ['API 版本，如 2024-05-01-preview', 'API version, e.g. 2024-05-01-preview'] }],
  [55, 'Azure v1', { base: '', key: ['Azure 密钥', 'Azure key'], other: ['API 版本，如 preview、latest', 'API version, e.g. preview, latest'] }],
  [54, 'Azure Databricks', { base: '', key: ['Databricks 令牌', 'Databricks token'] }],
  [8, 'Custom', { base: '', note: ['自定义渠道：OpenAI 兼容的任意地址', 'Custom: any OpenAI-compatible address'] }],
  [14, 'Anthropic', { base: 'https://api.anthropic.com' }],
  [25, 'Google Gemini', { base: 'https://generativelanguage.googleapis.com', other: ['API 版本（默认 v1beta）', 'API version (default v1beta)'] }],
  [42, 'Vertex AI', { base: '', json: true, key: ['服务账号 JSON（粘贴整个文件，保存为一行）', 'Service-account JSON (paste the whole file; stored on one line)'], otherParts: ['region', 'projectId'], note: ['region 为 global 时不加地区前缀', 'region "global" means no regional prefix'] }],
  [32, 'AWS Bedrock', { base: '', parts: ['region', 'accessKeyId', 'secretAccessKey', 'sessionToken?'], note: ['或只填 region 与 Bedrock API Key：region|apiKey', 'Or a region and a Bedrock API key: region|apiKey'] }],
  [15, 'Baidu', { base: 'https://aip.baidubce.com', parts: ['APIKey', 'SecretKey'] }],
  [16, 'Zhipu', { base: 'https://open.bigmodel.cn/api/paas/v4', key: ['id.secret', 'id.secret'] }],
  [17, 'Ali', { base: 'https://dashscope.aliyuncs.com', other: ['X-DashScope-Plugin 请求头（可选）', 'X-DashScope-Plugin header (optional)'] }],
  [18, 'Xunfei', { base: 'wss://spark-api.xf-yun.com', parts: ['APPID', 'APISecret', 'APIKey'], other: ['默认版本，如 v3.5', 'Default version, e.g. v3.5'] }],
  [40, 'Hunyuan', { base: 'https://hunyuan.tencentcloudapi.com', parts: ['SecretId', 'SecretKey'] }],
  [23, 'Tencent', { base: 'https://hunyuan.cloud.tencent.com', parts: ['AppId', 'SecretId', 'SecretKey'] }],
  [35, 'Cloudflare AI', { base: 'https://api.cloudflare.com', parts: ['accountId', 'apiToken'] }],
  [39, 'Ollama', { base: 'https://ollama.com', note: ['本地部署如 http://127.0.0.1:11434，密钥可任意填写', 'A local server e.g. http://127.0.0.1:11434; any key'] }],
  [20, 'OpenRouter', { base: 'https://openrouter.ai/api' }],
  [28, 'DeepSeek', { base: 'https://api.deepseek.com' }],
  [29, 'Moonshot', { base: 'https://api.moonshot.cn' }],
  [30, 'Mistral', { base: 'https://api.mistral.ai' }],
  [31, 'Groq', { base: 'https://api.groq.com/openai' }],
  [56, 'xAI', { base: 'https://api.x.ai' }],
  [45, 'SiliconFlow', { base: 'https://api.siliconflow.cn' }],
  [26, 'Baichuan', { base: 'https://api.baichuan-ai.com' }],
  [27, 'MiniMax', { base: 'https://api.minimax.chat' }],
  [33, 'Lingyi', { base: 'https://api.lingyiwanwu.com' }],
  [36, 'Cohere', { base: 'https://api.cohere.ai' }],
  [38, 'Coze', { base: 'https://api.coze.com/open_api', key: ['个人访问令牌', 'Personal access token'] }],
  [49, 'GitHub', { base: 'https://models.inference.ai.azure.com', key: ['GitHub 个人访问令牌', 'GitHub personal access token'] }],
  [47, 'Jina', { base: 'https://api.jina.ai' }],
  [37, 'Stability AI', { base: 'https://api.stability.ai/v2beta' }],
  [51, 'Recraft', { base: 'https://external.api.recraft.ai' }],
  [52, 'Replicate', { base: 'https://api.replicate.com' }],
  [24, 'Azure Speech', { base: '', other: ['地区，如 eastasia', 'Region, e.g. eastasia'] }],
  [11, 'PaLM', { base: 'https://generativelanguage.googleapis.com' }],
  [19, '360', { base: '' }],
  [43, 'Meta', { base: '' }],
  [44, 'Ideogram', { base: '' }],
  [46, 'Flux', { base: '' }],
  [48, 'Rerank', { base: '' }],
  [34, 'Midjourney', { base: '', key: ['midjourney-proxy 密钥', 'midjourney-proxy secret'] }],
  [41, 'Suno', { base: '' }],
  [53, 'Kling', { base: 'https://api.klingai.com', key: ['accessKey|secretKey 或令牌', 'accessKey|secretKey or a token'] }],
];

export function typeName(id) {
  const row = TYPES.find(([i]) => i === id);
  return row ? row[1] : `#${id}`;
}

export function typeInfo(id) {
  const row = TYPES.find(([i]) => i === id);
  return row ? row[2] : { base: '' };
}
