/** The console's words in zh-CN and en. `t(key, vars)` fills `{name}` placeholders. */

const MESSAGES = {
  en: {
    title: 'chatd console', login: 'Log in', agent_id: 'Agent ID', password: 'Password', logout: 'Log out',
    login_failed: 'Wrong agent ID or password', workspace: 'Workspace', supervisor: 'Supervisor', admin: 'Admin',
    online: 'Online', away: 'Away', offline: 'Offline', status: 'Status',
    conn_online: 'Connected', conn_connecting: 'Connecting…', conn_waiting: 'Reconnecting in {s} s…',
    conn_stopped: 'Disconnected', inbox: 'Conversations', no_conversations: 'No conversations yet',
    waiting: 'waiting {t}', offer: 'New chat offered', accept: 'Accept', decline: 'Decline', expires_in: '{s} s left',
    pick_conversation: 'Pick a conversation on the left',
    composer_placeholder: 'Type a reply, / for quick replies, Enter to send',
    note_placeholder: 'Internal note (the visitor never sees it)', internal_note: 'Internal note', send: 'Send',
    sending: 'sending…', failed: 'not sent', quick_replies: 'Quick replies', search_quick: 'Search quick replies',
    no_quick: 'No quick reply matches', transfer: 'Transfer', transfer_to_agent: 'To agent',
    transfer_to_skill: 'To skill group', note: 'Note', cancel: 'Cancel', confirm: 'Confirm', close_chat: 'Close',
    disposition: 'Disposition', disp_resolved: 'Resolved', disp_no_reply: 'No reply from visitor',
    disp_spam: 'Spam', disp_escalated: 'Escalated', disp_other: 'Other', ticket: 'Ticket', create_ticket: 'Create a ticket',
    category: 'Category', message: 'Message', ticket_created: 'Ticket {id} created', typing: 'typing…',
    read_up_to: 'Read', visitor: 'Visitor', bot: 'Bot', you: 'You', closed: 'closed', watching: 'Monitoring (read-only)',
    stop_watching: 'Stop monitoring', dismiss: 'Dismiss',
    ev_queued: 'Waiting in queue {skill}', ev_offered: 'Offered to {agent}', ev_accepted: 'Accepted by {agent}',
    ev_lapsed: 'Offer to {agent} lapsed', ev_assigned: 'Assigned to {agent}',
    ev_transferred: 'Transferred from {from} to {to}', ev_requeued: 'Back in queue', ev_closed: 'Closed',
    ev_reopened: 'Reopened', transfer_note: 'Note: {note}',
    customer: 'Customer', profile: 'Profile', name: 'Name', contact: 'Contact', vip: 'VIP level',
    current_page: 'Current page', attributes: 'Attributes', past_conversations: 'Past conversations',
    orders: 'Orders', no_orders: 'No orders', orders_unavailable: 'Orders unavailable: {detail}',
    verified: 'logged in', anonymous: 'anonymous', show_transcript: 'Transcript', none: '—',
    queues: 'Queues', skill_group: 'Skill group', length: 'In queue', longest_wait: 'Longest wait',
    predicted_wait: 'Predicted wait', agents: 'Agents', agent: 'Agent', load: 'Load', current_chats: 'Current chats',
    today_closed: 'Closed today', monitor: 'Monitor', reassign: 'Reassign', routing: 'Routing',
    routing_explanation: 'Routing explanation', on_shift: 'On shift', connected: 'connected', totals: 'Totals',
    queued_total: 'Queued', active_total: 'Active', closed_today_total: 'Closed today', abandoned_today_total: 'Left while waiting today', refresh: 'Refresh',
    save: 'Save', delete: 'Delete', create: 'Create', edit: 'Edit', saved: 'Saved', deleted: 'Deleted',
    agents_admin: 'Agents', skill_groups: 'Skill groups', kb: 'Knowledge base', overflow: 'Overflow rules',
    sites: 'Widget sites', schedules: 'Shifts', not_available: 'Not available on this server yet',
    role: 'Role', capacity: 'Capacity', skills: 'Skills (skill:proficiency)', new_chat: 'New chat',
    new_chat_body: 'A visitor is waiting', language: 'Language', error: 'Error: {message}',
    replay_gap: 'Older messages were trimmed; loaded from history.', forbidden_admin: 'This needs the admin role',
    api_keys: 'API keys', key_id: 'Key', scopes: 'Scopes', created_at: 'Created', revoked_at: 'Revoked',
    revoke: 'Revoke', token_once: 'The new key (copy it now, it is not shown again): {token}',
    deliveries: 'Event deliveries', deliveries_of: 'Event deliveries of {site}', no_deliveries: 'No deliveries yet',
    at: 'Time', event_type: 'Event', attempt: 'Attempt', http_status: 'HTTP status', outcome: 'Outcome',
    retry_at: 'Next attempt', close_log: 'Close',
  },
  'zh-CN': {
    title: 'chatd 坐席工作台', login: '登录', agent_id: '坐席账号', password: '密码', logout: '退出',
    login_failed: '账号或密码错误', workspace: '工作台', supervisor: '班长监控', admin: '管理',
    online: '在线', away: '小休', offline: '离线', status: '状态',
    conn_online: '已连接', conn_connecting: '连接中…', conn_waiting: '{s} 秒后重连…', conn_stopped: '已断开',
    inbox: '会话', no_conversations: '暂无会话', waiting: '等待 {t}', offer: '新会话分配', accept: '接入',
    decline: '拒绝', expires_in: '剩余 {s} 秒', pick_conversation: '请在左侧选择会话',
    composer_placeholder: '输入回复，/ 调出快捷回复，回车发送', note_placeholder: '内部备注（访客看不到）',
    internal_note: '内部备注', send: '发送', sending: '发送中…', failed: '未发送', quick_replies: '快捷回复',
    search_quick: '搜索快捷回复', no_quick: '没有匹配的快捷回复', transfer: '转接', transfer_to_agent: '转给坐席',
    transfer_to_skill: '转给技能组', note: '备注', cancel: '取消', confirm: '确定', close_chat: '结束',
    disposition: '结束原因', disp_resolved: '已解决', disp_no_reply: '访客无回应', disp_spam: '骚扰',
    disp_escalated: '已升级', disp_other: '其他', ticket: '工单', create_ticket: '创建工单', category: '分类',
    message: '内容', ticket_created: '工单 {id} 已创建', typing: '正在输入…', read_up_to: '已读', visitor: '访客',
    bot: '机器人', you: '我', closed: '已结束', watching: '监听中（只读）', stop_watching: '停止监听', dismiss: '移除',
    ev_queued: '进入 {skill} 队列', ev_offered: '分配给 {agent}', ev_accepted: '{agent} 已接入',
    ev_lapsed: '{agent} 未接入，已退回', ev_assigned: '已分配给 {agent}', ev_transferred: '由 {from} 转给 {to}',
    ev_requeued: '重新排队', ev_closed: '会话已结束', ev_reopened: '会话重新打开', transfer_note: '备注：{note}',
    customer: '客户', profile: '客户资料', name: '姓名', contact: '联系方式', vip: 'VIP 等级', current_page: '当前页面',
    attributes: '属性', past_conversations: '历史会话', orders: '订单', no_orders: '暂无订单',
    orders_unavailable: '订单暂不可用：{detail}', verified: '已登录', anonymous: '匿名', show_transcript: '聊天记录',
    none: '—', queues: '排队', skill_group: '技能组', length: '排队数', longest_wait: '最长等待',
    predicted_wait: '预计等待', agents: '坐席', agent: '坐席', load: '负载', current_chats: '当前会话',
    today_closed: '今日接待', monitor: '监听', reassign: '改派', routing: '路由', routing_explanation: '路由说明',
    on_shift: '在班', connected: '已连接', totals: '汇总', queued_total: '排队中', active_total: '进行中',
    closed_today_total: '今日已结束', abandoned_today_total: '今日排队放弃', refresh: '刷新', save: '保存', delete: '删除', create: '新建', edit: '编辑',
    saved: '已保存', deleted: '已删除', agents_admin: '坐席管理', skill_groups: '技能组', kb: '知识库',
    overflow: '溢出规则', sites: '接入网站', schedules: '排班', not_available: '此服务器暂未提供该功能',
    role: '角色', capacity: '接待上限', skills: '技能（技能:熟练度）', new_chat: '新会话', new_chat_body: '有访客在等待',
    language: '语言', error: '出错：{message}', replay_gap: '较早的消息已清理，已从历史记录加载。',
    forbidden_admin: '需要管理员权限',
    api_keys: 'API 密钥', key_id: '密钥', scopes: '权限范围', created_at: '创建时间', revoked_at: '吊销时间',
    revoke: '吊销', token_once: '新密钥（请立即复制，之后不再显示）：{token}',
    deliveries: '事件推送记录', deliveries_of: '{site} 的事件推送记录', no_deliveries: '暂无推送记录',
    at: '时间', event_type: '事件', attempt: '第几次', http_status: 'HTTP 状态', outcome: '结果',
    retry_at: '下次重试', close_log: '关闭',
  },
};

export const LOCALES = Object.keys(MESSAGES);

export function pickLocale(saved, navigatorLanguage) {
  if (saved && MESSAGES[saved]) return saved;
  return String(navigatorLanguage || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function translator(locale) {
  const table = MESSAGES[locale] || MESSAGES.en;
  return (key, vars) => {
    const text = table[key] ?? MESSAGES.en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (vars[name] ?? '')) : text;
  };
}
