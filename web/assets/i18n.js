// Chinese and English. The language follows the browser (`navigator.language`) until the user
// picks one, which is remembered (localStorage). Each entry holds both languages, so a text
// cannot exist in one only; `{name}` placeholders are filled from the second argument of `t`.

export const LANGS = [['zh', '中文'], ['en', 'English']];
const KEY = 'onehub.lang';

/** key: [中文, English] — One Hub's own terms (渠道, 令牌, 分组, 额度, 日志, …). */
const DICT = {
  'nav.dashboard': ['仪表盘', 'Dashboard'],
  'nav.channel': ['渠道', 'Channels'],
  'nav.token': ['令牌', 'Tokens'],
  'nav.log': ['日志', 'Logs'],
  'nav.fleet': ['节点', 'Fleet'],
  'nav.setting': ['设置', 'Settings'],
  'nav.signout': ['退出', 'Sign out'],

  'common.actions': ['操作', 'Actions'],
  'common.cancel': ['取消', 'Cancel'],
  'common.close': ['关闭', 'Close'],
  'common.confirm': ['请确认', 'Please confirm'],
  'common.copied': ['已复制到剪贴板', 'Copied to the clipboard'],
  'common.copy': ['复制', 'Copy'],
  'common.created': ['创建时间', 'Created'],
  'common.created_ok': ['创建成功', 'Created'],
  'common.delete': ['删除', 'Delete'],
  'common.deleted': ['已删除', 'Deleted'],
  'common.disable': ['禁用', 'Disable'],
  'common.edit': ['编辑', 'Edit'],
  'common.empty': ['暂无数据', 'Nothing here yet'],
  'common.enable': ['启用', 'Enable'],
  'common.language': ['语言', 'Language'],
  'common.no': ['否', 'No'],
  'common.optional': ['可选', 'optional'],
  'common.page': ['第 {page} / {pages} 页，共 {total} 条', 'Page {page} of {pages}, {total} in all'],
  'common.save': ['保存', 'Save'],
  'common.saved': ['已保存', 'Saved'],
  'common.search': ['搜索', 'Search'],
  'common.status': ['状态', 'Status'],
  'common.yes': ['是', 'Yes'],

  'login.title': ['登录', 'Sign in'],
  'login.username': ['用户名或邮箱', 'Username or email'],
  'login.password': ['密码', 'Password'],
  'login.submit': ['登录', 'Sign in'],
  'login.expired': ['登录已失效，请重新登录', 'Your session ended; please sign in again'],
  'login.root_hint': ['新节点首次启动时生成 root 密码，保存在数据库旁的 initial-root-password 文件中（或使用 INITIAL_ROOT_PASSWORD）。', 'On its first start a new node generates the root password into the file initial-root-password next to the database (or uses INITIAL_ROOT_PASSWORD).'],

  'dash.today_requests': ['今日请求', 'Requests today'],
  'dash.today_quota': ['今日消费', 'Quota used today'],
  'dash.today_tokens': ['今日 Token', 'Tokens today'],
  'dash.balance': ['剩余额度', 'Quota left'],
  'dash.used': ['已用额度', 'Quota used'],
  'dash.used_share': ['已用比例', 'Share used'],
  'dash.rpm': ['RPM', 'RPM'],
  'dash.week': ['最近 7 天各模型用量', 'Usage per model, last 7 days'],
  'dash.quota': ['额度', 'Quota'],
  'dash.requests': ['请求数', 'Requests'],
  'dash.tokens': ['Token', 'Tokens'],
  'dash.other': ['其他', 'Other'],
  'dash.no_usage': ['最近 7 天没有用量', 'No usage in the last 7 days'],

  'token.name': ['名称', 'Name'],
  'token.key': ['密钥', 'Key'],
  'token.show': ['显示', 'Show'],
  'token.hide': ['隐藏', 'Hide'],
  'token.copy': ['复制', 'Copy'],
  'token.create': ['新建令牌', 'New token'],
  'token.edit': ['编辑令牌', 'Edit token'],
  'token.group': ['分组', 'Group'],
  'token.group_default': ['用户分组', "The user's group"],
  'token.backup_group': ['备用分组', 'Backup group'],
  'token.backup_hint': ['主分组没有可用渠道时使用', 'Used when the group has no channel for a model'],
  'token.expires': ['过期时间', 'Expires'],
  'token.never': ['永不过期', 'Never'],
  'token.bad_expiry': ['请填写过期时间，或选择永不过期', 'Give an expiry time or choose "never"'],
  'token.quota': ['额度', 'Quota'],
  'token.unlimited': ['无限额度', 'Unlimited'],
  'token.used': ['已用额度', 'Used'],
  'token.remain': ['剩余额度', 'Left'],
  'token.limit_models': ['只允许这些模型', 'Only these models'],
  'token.limit_ips': ['只允许这些 IP（每行一个，可用 CIDR）', 'Only these IPs (one a line, CIDR allowed)'],
  'token.search': ['按名称搜索', 'Search by name'],
  'token.confirm_delete': ['删除令牌「{name}」？使用它的程序将无法再调用。', 'Delete the token "{name}"? Programs that use it will stop working.'],
  'token.key_hint': ['调用时使用 Authorization: Bearer sk-…，地址为本站的 /v1。', 'Call with Authorization: Bearer sk-… at this site\'s /v1.'],
  'token.status1': ['已启用', 'Enabled'],
  'token.status2': ['已禁用', 'Disabled'],
  'token.status3': ['已过期', 'Expired'],
  'token.status4': ['已耗尽', 'Exhausted'],

  'channel.create': ['新建渠道', 'New channel'],
  'channel.edit': ['编辑渠道', 'Edit channel'],
  'channel.type': ['类型', 'Type'],
  'channel.name': ['名称', 'Name'],
  'channel.key': ['密钥', 'Key'],
  'channel.key_placeholder': ['API 密钥', 'API key'],
  'channel.key_lines': ['每行一个密钥，每个密钥创建一个渠道。', 'One key a line; each key makes a channel.'],
  'channel.key_keep': ['留空则保留当前密钥。', 'Leave empty to keep the current key.'],
  'channel.key_parts': ['请填写密钥的各部分：{parts}', 'Fill in the key parts: {parts}'],
  'channel.key_required': ['请填写密钥', 'A key is required'],
  'channel.base_url': ['代理地址 (Base URL)', 'Base URL'],
  'channel.base_required': ['此类型必须填写地址', 'This type needs a base URL'],
  'channel.other': ['其他参数', 'Other'],
  'channel.models': ['模型', 'Models'],
  'channel.models_hint': ['逗号或换行分隔', 'Separated by commas or lines'],
  'channel.models_required': ['请填写模型', 'Models are required'],
  'channel.fetch_models': ['从上游获取', 'Fetch from upstream'],
  'channel.models_fetched': ['获取到 {n} 个模型', '{n} models fetched'],
  'channel.groups': ['分组', 'Groups'],
  'channel.group_required': ['请至少选择一个分组', 'Choose at least one group'],
  'channel.mapping': ['模型映射 (JSON)', 'Model mapping (JSON)'],
  'channel.mapping_hint': ['请求的模型名 → 上游模型名', 'Requested model → upstream model'],
  'channel.bad_json': ['{what} 不是合法的 JSON', '{what} is not valid JSON'],
  'channel.test_model': ['测速模型', 'Test model'],
  'channel.priority': ['优先级 / 权重', 'Priority / weight'],
  'channel.weight': ['权重', 'Weight'],
  'channel.tag': ['标签', 'Tag'],
  'channel.proxy': ['代理', 'Proxy'],
  'channel.advanced': ['高级设置', 'Advanced'],
  'channel.headers': ['模型请求头 (JSON)', 'Model headers (JSON)'],
  'channel.custom': ['额外参数 (JSON)', 'Extra parameters (JSON)'],
  'channel.only_chat': ['仅对话（不支持工具调用）', 'Chat only (no tools)'],
  'channel.compatible': ['Responses 转为对话接口', 'Responses through chat'],
  'channel.response': ['响应时间', 'Response time'],
  'channel.balance': ['余额', 'Balance'],
  'channel.used': ['已用额度', 'Used'],
  'channel.test': ['测试', 'Test'],
  'channel.test_all': ['测试全部', 'Test all'],
  'channel.test_all_started': ['已开始测试全部渠道', 'Testing every channel'],
  'channel.search': ['按名称搜索', 'Search by name'],
  'channel.all_types': ['全部类型', 'All types'],
  'channel.all_status': ['全部状态', 'Any status'],
  'channel.all_groups': ['全部分组', 'All groups'],
  'channel.all_tags': ['全部标签', 'All tags'],
  'channel.tag_mode0': ['标签合并显示', 'Tags folded'],
  'channel.tag_mode1': ['仅无标签', 'Untagged only'],
  'channel.tag_mode2': ['仅标签', 'Tags only'],
  'channel.confirm_delete': ['删除渠道「{name}」？', 'Delete the channel "{name}"?'],
  'channel.status1': ['已启用', 'Enabled'],
  'channel.status2': ['手动禁用', 'Disabled'],
  'channel.status3': ['自动禁用', 'Auto-disabled'],

  'log.time': ['时间', 'Time'],
  'log.type': ['类型', 'Type'],
  'log.all_types': ['全部', 'All'],
  'log.type1': ['充值', 'Top-up'],
  'log.type2': ['消费', 'Consume'],
  'log.type3': ['管理', 'Manage'],
  'log.type4': ['系统', 'System'],
  'log.user': ['用户', 'User'],
  'log.token': ['令牌', 'Token'],
  'log.model': ['模型', 'Model'],
  'log.channel': ['渠道', 'Channel'],
  'log.tokens': ['输入 / 输出', 'In / out'],
  'log.prompt': ['输入 Token', 'Prompt tokens'],
  'log.completion': ['输出 Token', 'Completion tokens'],
  'log.quota': ['额度', 'Quota'],
  'log.duration': ['耗时', 'Duration'],
  'log.stream': ['流式', 'Stream'],
  'log.ip': ['来源 IP', 'Source IP'],
  'log.content': ['详情', 'Content'],
  'log.details': ['详情', 'Details'],
  'log.start': ['开始时间', 'From'],
  'log.end': ['结束时间', 'To'],
  'log.total_quota': ['筛选结果消费额度：', 'Quota used by the filter:'],

  'fleet.node': ['节点', 'Node'],
  'fleet.this': ['当前', 'this one'],
  'fleet.role': ['角色', 'Role'],
  'fleet.config_version': ['配置版本', 'Config version'],
  'fleet.last_sync': ['上次同步', 'Last sync'],
  'fleet.lag': ['延迟', 'Lag'],
  'fleet.push': ['推送通道', 'Push channel'],
  'fleet.reported': ['上次报告', 'Last report'],
  'fleet.version': ['程序版本', 'Version'],
  'fleet.last_error': ['最近错误', 'Last error'],
  'fleet.current': ['已同步', 'Current'],
  'fleet.behind': ['落后', 'Behind'],
  'fleet.failing': ['同步失败', 'Failing'],
  'fleet.starting': ['启动中', 'Starting'],
  'fleet.gone': ['已离线', 'Gone'],
  'fleet.current_nodes': ['已同步节点', 'Nodes current'],
  'fleet.db_version': ['数据库配置版本', 'Database config version'],
  'fleet.gone_nodes': ['离线节点', 'Nodes gone'],
  'fleet.seconds_ago': ['{n} 秒前', '{n} s ago'],
  'fleet.minutes_ago': ['{n} 分钟前', '{n} min ago'],
  'fleet.explain': ['每个节点每隔几秒把同步状态写入数据库；超过 {secs} 秒没有报告的节点显示为离线。', 'Each node writes its sync state to the database every few seconds; a node with no report for {secs} s is shown as gone.'],

  'settings.operation': ['运营设置', 'Operation'],
  'settings.channels': ['渠道与重试', 'Channels and retries'],
  'settings.system': ['系统设置', 'System'],
  'settings.login': ['登录注册', 'Sign-in and sign-up'],
  'settings.other': ['其他选项', 'Other options'],
  'settings.saved': ['已保存 {n} 项', '{n} saved'],
  'settings.unchanged': ['没有修改', 'Nothing changed'],
  'settings.secret_keep': ['留空则不修改', 'Leave empty to keep'],
};

function detect() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let current = detect();

export function lang() {
  return current;
}

export function setLang(l) {
  current = l === 'zh' ? 'zh' : 'en';
  localStorage.setItem(KEY, current);
}

/** The text of `key` in the current language, with `{name}` filled from `vars`. */
export function t(key, vars) {
  const entry = DICT[key];
  let s = entry ? entry[current === 'zh' ? 0 : 1] : key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}
