/** The panel's strings in zh-CN and en, and the few formatted sentences. Pure. */

const zh = {
  title: '在线客服',
  close: '关闭',
  messages: '消息',
  inputLabel: '输入消息',
  placeholder: '请输入您的问题…',
  send: '发送',
  you: '我',
  agent: '客服',
  bot: '机器人',
  sending: '发送中…',
  failed: '发送失败',
  retry: '重试',
  read: '已读',
  unread: '未读',
  typing: '对方正在输入…',
  connecting: '正在连接…',
  reconnecting: '网络不稳定，正在重新连接…',
  stopped: '无法连接客服，请稍后再试',
  tooLong: '消息太长了，请分几条发送',
  gap: '部分较早的消息已无法显示',
  suggestions: '猜你想问',
  quickReplies: '快捷回复',
  newChatHint: '发送消息将开始新的会话',
  prechatTitle: '开始咨询前，请留下您的联系方式',
  prechatSubmit: '开始咨询',
  name: '姓名',
  phone: '手机号',
  email: '邮箱',
  required: '必填',
  invalidPhone: '请输入有效的手机号',
  invalidEmail: '请输入有效的邮箱',
  leaveOpen: '留言',
  leaveTitle: '当前没有客服在线，请留言，我们会尽快联系您',
  leaveManualTitle: '给我们留言',
  leaveBody: '留言内容',
  leaveContact: '请至少填写手机号或邮箱',
  leaveSubmit: '提交留言',
  leaveSending: '提交中…',
  leaveDone: '留言已提交，我们会尽快联系您',
  leaveFailed: '提交失败，请稍后再试',
  back: '返回对话',
  rateTitle: '请为本次服务评价',
  star: (n) => `${n} 星`,
  ratingComment: '还有什么想告诉我们的吗？（选填）',
  rateSubmit: '提交评价',
  rateThanks: '感谢您的评价！',
  rateFailed: '评价提交失败，请重试',
  events: {
    queued: () => '正在为您转接人工客服，请稍候',
    assigned: (who) => `客服 ${who} 为您服务`,
    transferredAgent: (who) => `已为您转接给客服 ${who}`,
    transferredSkill: (skill) => `已为您转接至 ${skill}`,
    requeued: () => '客服暂时离开，正在为您重新排队',
    closed: () => '会话已结束',
    reopened: () => '会话已重新开始',
  },
};

const en = {
  title: 'Chat with us',
  close: 'Close',
  messages: 'Messages',
  inputLabel: 'Type a message',
  placeholder: 'Type your message…',
  send: 'Send',
  you: 'You',
  agent: 'Agent',
  bot: 'Bot',
  sending: 'Sending…',
  failed: 'Not sent',
  retry: 'Retry',
  read: 'Read',
  unread: 'Sent',
  typing: 'Typing…',
  connecting: 'Connecting…',
  reconnecting: 'Connection lost, reconnecting…',
  stopped: 'Chat is unavailable right now, please try again later',
  tooLong: 'That message is too long, please split it',
  gap: 'Some earlier messages are no longer available',
  suggestions: 'You may want to ask',
  quickReplies: 'Quick replies',
  newChatHint: 'Sending a message starts a new chat',
  prechatTitle: 'Before we start, how can we reach you?',
  prechatSubmit: 'Start chat',
  name: 'Name',
  phone: 'Phone',
  email: 'Email',
  required: 'Required',
  invalidPhone: 'Please enter a valid phone number',
  invalidEmail: 'Please enter a valid email address',
  leaveOpen: 'Leave a message',
  leaveTitle: 'Nobody is available right now. Leave a message and we will get back to you.',
  leaveManualTitle: 'Leave us a message',
  leaveBody: 'Message',
  leaveContact: 'Please give a phone number or an email address',
  leaveSubmit: 'Send message',
  leaveSending: 'Sending…',
  leaveDone: 'Thank you, we will get back to you soon',
  leaveFailed: 'Could not send, please try again later',
  back: 'Back to chat',
  rateTitle: 'How did we do?',
  star: (n) => `${n} star${n === 1 ? '' : 's'}`,
  ratingComment: 'Anything else you want to tell us? (optional)',
  rateSubmit: 'Submit rating',
  rateThanks: 'Thank you for your feedback!',
  rateFailed: 'Could not send your rating, please try again',
  events: {
    queued: () => 'Waiting for an agent',
    assigned: (who) => `${who} joined the chat`,
    transferredAgent: (who) => `Transferred to ${who}`,
    transferredSkill: (skill) => `Transferred to ${skill}`,
    requeued: () => 'Your agent left; you are back in the queue',
    closed: () => 'The chat has ended',
    reopened: () => 'The chat was reopened',
  },
};

export const STRINGS = Object.freeze({ 'zh-CN': zh, en });

export function strings(locale) {
  return locale === 'zh-CN' ? zh : en;
}

/**
 * The queue sentence for `{position, eta_seconds}` (position 1 = next).
 * zh counts the visitors ahead (position - 1), en the visitor's own number.
 */
export function queueText(locale, queue) {
  if (!queue || !(queue.position >= 1)) return '';
  const position = Math.floor(queue.position);
  const minutes = queue.eta_seconds > 0 ? Math.max(1, Math.ceil(queue.eta_seconds / 60)) : 0;
  if (locale === 'zh-CN') {
    const ahead = position - 1;
    const head = ahead > 0 ? `您前面还有 ${ahead} 位` : '您是下一位';
    return minutes ? `${head}，预计等待 ${minutes} 分钟` : head;
  }
  const head = position > 1 ? `You are number ${position}` : 'You are next';
  return minutes ? `${head}, about ${minutes} min` : head;
}

/** The system line for a log event, or '' for events the panel does not show. */
export function eventText(t, entry, agentLabel) {
  const data = entry.data || {};
  switch (entry.event) {
    case 'queued':
      return t.events.queued();
    case 'assigned':
      return t.events.assigned(agentLabel(data.agent_name || data.agent_id || ''));
    case 'transferred':
      if (data.to_agent || data.agent_id) return t.events.transferredAgent(agentLabel(data.agent_name || data.to_agent || data.agent_id));
      return t.events.transferredSkill(data.to_skill || '');
    case 'requeued':
      return t.events.requeued();
    case 'closed':
      return t.events.closed();
    case 'reopened':
      return t.events.reopened();
    default:
      return '';
  }
}
