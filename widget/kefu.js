/*! Kefu chat widget — https://github.com/kefu · one script tag, no dependencies, no third-party requests.
 *
 * <script src="https://HOST/widget/kefu.js" data-key="WIDGET_KEY" async></script>
 * Options: data-color (any CSS colour), data-position (right|left), data-title, data-greeting,
 * data-avatar (an https image URL), data-starters (starter questions separated by "|", shown as
 * buttons on open), data-lang (zh|en; default: the browser's language), data-api (API origin;
 * default: this script's).
 * Signed-in customers (identity verification, docs/widget.md): data-user-id and data-user-hash (hex
 * HMAC-SHA256 of the id with the site's identity secret, computed on the site's server), optionally
 * data-user-name, data-user-email and data-user-details-hash.
 *
 * Everything lives in a Shadow DOM so the page's CSS cannot reach it. Its styles are a constructed
 * stylesheet (adoptedStyleSheets), not a <style> element, so a strict `style-src 'self'` CSP allows it. Text from the model or the
 * knowledge base is only ever placed with textContent (a tiny markdown subset is turned into DOM
 * nodes, never into HTML strings), so markup in an answer is shown, not run.
 */
(() => {
  'use strict';

  const tag = document.currentScript || document.querySelector('script[data-key][src*="kefu.js"]');
  if (!tag || window.__kefuWidget) return;
  window.__kefuWidget = true;

  const opt = tag.dataset;
  // data-preview: the admin app's live preview. No requests, no storage; sample replies only.
  const PREVIEW = 'preview' in opt;
  const KEY = opt.key || '';
  const API = (opt.api || new URL(tag.src, location.href).origin).replace(/\/+$/, '');
  // The signed-in customer the site vouches for; sent with every message and read, never stored.
  const USER = opt.userId && opt.userHash ? Object.fromEntries(Object.entries({
    id: opt.userId, hash: opt.userHash, name: opt.userName, email: opt.userEmail, details_hash: opt.userDetailsHash,
  }).filter(([, v]) => v)) : null;
  const withUser = (body) => (USER ? { ...body, user: USER } : body);

  // ---- UI strings -----------------------------------------------------------------------------
  const STRINGS = {
    en: {
      title: 'Customer service', open: 'Open chat', close: 'Close chat', greeting: 'Hi! How can we help you today?',
      placeholder: 'Type your question…', input: 'Your message', send: 'Send', typing: 'The assistant is typing',
      sources: 'Sources', sourcesCount: 'Sources ({n})', starters: 'Suggested questions', didYouMean: 'Did you mean', helpful: 'Helpful', notHelpful: 'Not helpful', thanksFeedback: 'Thanks for the feedback',
      human: 'Talk to a human', humanAsked: 'Human requested', humanMessage: "I'd like to talk to a human, please.",
      humanDone: 'A colleague has been notified and will get back to you as soon as possible.',
      queued: 'Waiting for a colleague (you are number {n} in the queue).', queuedShort: 'Waiting for a colleague · number {n}',
      withAgent: 'You are chatting with {n}', agentJoined: '{n} has joined the conversation.',
      backToBot: 'You are back with the assistant. Ask us anything.', agentName: 'Customer service',
      sentToAgent: 'Sent to our team',
      closedNote: "No one from our team is available right now (we are outside our office hours). Leave your email or phone number and we'll get back to you.",
      noAgentNote: "No colleague is online right now. Your conversation waits for our team; leave your email or phone number and we'll get back to you.",
      waitingClosed: 'Waiting for our team · outside office hours', waitingNoAgent: 'Waiting for our team · no colleague online right now',
      contactTitle: 'How can we reach you?', email: 'Email', phone: 'Phone', contactSend: 'Send',
      contactNeeded: 'Please enter an email address or a phone number.', contactInvalid: 'Please check the email address or phone number.',
      contactSaved: "Thank you! We'll get back to you at {d}.",
      end: 'End chat', csatQuestion: 'How would you rate this conversation?', csatGroup: 'Rate from 1 (poor) to 5 (excellent)',
      csatStar: '{n} of 5', csatThanks: 'Thank you for rating this conversation {n} of 5.', newChat: 'New conversation started.',
      unreachable: "We can't reach the service right now. Please check your connection and try again in a moment.",
      rateLimited: "You're sending messages too quickly. Please wait a moment and try again.",
      rateLimitedFor: "You're sending messages too quickly. Please wait {n} seconds and try again.",
      refused: 'This chat is not available on this website (the site is not on the allowed list).',
      badKey: 'This chat is not set up correctly (invalid widget key).', notSent: 'Not sent',
      interrupted: 'The connection was interrupted; the answer may be incomplete.', error: 'Something went wrong: {d}',
      messages: 'Conversation', poweredBy: 'Kefu',
      previewAnswer: 'This is a preview. On your site, the answer from your knowledge base appears here, with its sources.',
    },
    zh: {
      title: '在线客服', open: '打开客服对话', close: '关闭对话', greeting: '您好！请问有什么可以帮您？',
      placeholder: '请输入您的问题…', input: '您的消息', send: '发送', typing: '客服正在输入',
      sources: '参考来源', sourcesCount: '参考来源（{n}）', starters: '常见问题', didYouMean: '您是想问', helpful: '有帮助', notHelpful: '没有帮助', thanksFeedback: '感谢您的反馈',
      human: '转人工客服', humanAsked: '已请求人工', humanMessage: '我想转人工客服。',
      humanDone: '已通知人工客服，我们会尽快与您联系。',
      queued: '正在等待人工客服（您排在第 {n} 位）。', queuedShort: '正在等待人工客服 · 第 {n} 位',
      withAgent: '{n} 正在为您服务', agentJoined: '{n} 已加入对话。',
      backToBot: '已回到智能助手，有问题随时问我。', agentName: '人工客服',
      sentToAgent: '已发送给客服',
      closedNote: '现在不在我们的服务时间内，暂时没有客服在线。请留下您的邮箱或电话，我们会尽快回复您。',
      noAgentNote: '现在暂时没有客服在线，您的对话会保留给客服处理。请留下您的邮箱或电话，我们会尽快回复您。',
      waitingClosed: '正在等待人工客服 · 现在不在服务时间内', waitingNoAgent: '正在等待人工客服 · 暂时没有客服在线',
      contactTitle: '我们该如何联系您？', email: '邮箱', phone: '电话', contactSend: '提交',
      contactNeeded: '请填写邮箱或电话。', contactInvalid: '请检查邮箱或电话是否填写正确。',
      contactSaved: '谢谢！我们会通过 {d} 与您联系。',
      end: '结束对话', csatQuestion: '您对本次服务满意吗？', csatGroup: '请评分：1（很差）到 5（很好）',
      csatStar: '{n} 分（满分 5 分）', csatThanks: '感谢您的评分：{n} / 5。', newChat: '已开始新的对话。',
      unreachable: '暂时无法连接客服服务，请检查网络后稍后再试。',
      rateLimited: '您发送消息太频繁了，请稍后再试。', rateLimitedFor: '您发送消息太频繁了，请 {n} 秒后再试。',
      refused: '此网站未获授权使用该客服窗口。', badKey: '客服窗口配置有误（无效的密钥）。', notSent: '未发送',
      interrupted: '连接中断，回答可能不完整。', error: '出错了：{d}', messages: '对话记录', poweredBy: 'Kefu',
      previewAnswer: '这是预览。在您的网站上，这里会显示来自知识库的回答及其来源。',
    },
  };
  // Voice questions (docs/widget.md): the microphone shows only when the browser can record and
  // the tenant has a speech-to-text endpoint (`voice.available` in the config).
  Object.assign(STRINGS.en, {
    record: 'Ask by voice', stopRecording: 'Stop and send', cancelRecording: 'Cancel recording',
    recording: 'Recording… {n}', voiceSending: 'Sending your voice message…', voiceLabel: 'Voice message',
    micDenied: 'The microphone is blocked. Allow it for this site to ask by voice, or type your question.',
    noMic: 'No microphone was found. Type your question instead.',
  });
  Object.assign(STRINGS.zh, {
    record: '语音提问', stopRecording: '停止并发送', cancelRecording: '取消录音',
    recording: '正在录音… {n}', voiceSending: '正在发送语音…', voiceLabel: '语音消息',
    micDenied: '麦克风已被禁止。请允许本网站使用麦克风后再语音提问，或直接输入问题。',
    noMic: '未找到麦克风，请直接输入问题。',
  });
  const wanted = (opt.lang || navigator.language || 'en').toLowerCase();
  const LANG = wanted.startsWith('zh') ? 'zh' : 'en';
  const t = (name, vars) => String(STRINGS[LANG][name]).replace(/\{(\w)\}/g, (_, v) => (vars && v in vars ? vars[v] : ''));

  // ---- browser storage (may be unavailable: private mode, sandboxed frames) --------------------
  const prefix = `kefu:${KEY}:`;
  const stored = {
    get(name, session) { try { return (session ? sessionStorage : localStorage).getItem(prefix + name); } catch { return null; } },
    set(name, value, session) { try { (session ? sessionStorage : localStorage).setItem(prefix + name, value); } catch { /* not kept */ } },
    drop(name) { try { localStorage.removeItem(prefix + name); } catch { /* nothing kept */ } },
  };
  const newVisitorId = () => 'v_' + Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const state = {
    visitorId: stored.get('visitor') || newVisitorId(),
    conversationId: PREVIEW ? null : stored.get('conversation'),
    ended: false, handedOff: false, busy: false, blocked: false,
    wsBroken: !('WebSocket' in window),
    rated: {},
  };
  try { state.rated = JSON.parse(stored.get('rated') || '{}') || {}; } catch { /* start afresh */ }
  stored.set('visitor', state.visitorId);

  // ---- DOM building (textContent only) ---------------------------------------------------------
  function h(name, attrs, ...children) {
    const node = document.createElement(name);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v == null) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const child of children.flat()) if (child != null) node.append(child);
    return node;
  }
  const ICONS = {
    chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z',
    close: 'M6 6l12 12M18 6L6 18',
    send: 'M3 20l18-8L3 4v6l12 2-12 2z',
    up: 'M7 11v9H4v-9zm2 9h8.3a2 2 0 0 0 2-1.6l1.3-6A2 2 0 0 0 18.6 10H14l.7-3.6A1.7 1.7 0 0 0 13 4.4L9 10z',
    person: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 8a7 7 0 0 1 14 0z',
    mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z',
    stop: 'M7 7h10v10H7z',
  };
  function icon(name, flip) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (flip) svg.classList.add('flip');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', ICONS[name]);
    if (name === 'close') { path.setAttribute('stroke', 'currentColor'); path.setAttribute('stroke-width', '2.2'); path.setAttribute('fill', 'none'); }
    else path.setAttribute('fill', 'currentColor');
    svg.append(path);
    return svg;
  }

  // ---- safe markdown: paragraphs, line breaks, lists, **bold**, *italic*, `code`, links -----------
  const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\[[^\]\n]+\]\([^)\s]+\)|https?:\/\/[^\s<>()"'，。]+|\*[^*\s][^*\n]*\*)/;
  function safeHref(href) {
    try {
      const url = new URL(href, location.href);
      return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : null;
    } catch { return null; }
  }
  function link(label, href) {
    const safe = safeHref(href);
    return safe ? h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer nofollow', text: label }) : document.createTextNode(label);
  }
  function inline(text) {
    const out = [];
    for (const part of text.split(INLINE)) {
      if (!part) continue;
      let m;
      if (part.startsWith('**') && part.endsWith('**') && part.length > 4) out.push(h('strong', { text: part.slice(2, -2) }));
      else if (part.startsWith('`') && part.endsWith('`') && part.length > 2) out.push(h('code', { text: part.slice(1, -1) }));
      else if ((m = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(part))) out.push(link(m[1], m[2]));
      else if (/^https?:\/\//.test(part)) out.push(link(part, part));
      else if (part.startsWith('*') && part.endsWith('*') && part.length > 2) out.push(h('em', { text: part.slice(1, -1) }));
      else out.push(document.createTextNode(part));
    }
    return out;
  }
  function markdown(text) {
    const frag = document.createDocumentFragment();
    for (const block of String(text).trim().split(/\n\s*\n/)) {
      const lines = block.split('\n').filter((l) => l.trim());
      if (!lines.length) continue;
      const bullets = lines.every((l) => /^\s*[-*•]\s+/.test(l));
      const numbers = lines.every((l) => /^\s*\d+[.)、]\s*/.test(l));
      if (bullets || numbers) {
        frag.append(h(numbers ? 'ol' : 'ul', null,
          lines.map((l) => h('li', null, inline(l.replace(bullets ? /^\s*[-*•]\s+/ : /^\s*\d+[.)、]\s*/, ''))))));
      } else {
        frag.append(h('p', null, lines.flatMap((l, i) => (i ? [h('br'), ...inline(l)] : inline(l)))));
      }
    }
    return frag;
  }

  // ---- talking to the API ---------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, detail, retryAfter) { super(detail || `HTTP ${status}`); this.status = status; this.detail = detail; this.retryAfter = retryAfter; }
  }
  async function call(method, path, body, extraHeaders) {
    let response;
    try {
      response = await fetch(API + path, {
        method, mode: 'cors', credentials: 'omit', cache: 'no-store',
        headers: { ...(body ? { 'X-Widget-Key': KEY, 'Content-Type': 'application/json' }
          : { 'X-Widget-Key': KEY, ...(USER ? { 'X-Kefu-User-Id': USER.id, 'X-Kefu-User-Hash': USER.hash } : {}) }), ...extraHeaders },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new ApiError(0, '');
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data.detail, response.headers.get('Retry-After'));
    return data;
  }
  function problemText(err) {
    if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500) return t('unreachable');
    if (err.status === 429) return err.retryAfter ? t('rateLimitedFor', { n: err.retryAfter }) : t('rateLimited');
    if (err.status === 403) return t('refused');
    if (err.status === 401) return t('badKey');
    return t('error', { d: err.detail || err.status });
  }
  const visitorQuery = () => `visitor_id=${encodeURIComponent(state.visitorId)}`;

  // The WebSocket streams answers; when it cannot be opened (proxy, firewall, refused) the widget
  // answers over plain HTTP instead and stays on HTTP for the rest of the page view.
  let socket = null;
  let connecting = null;
  let pending = null;
  function openSocket() {
    if (state.wsBroken) return Promise.reject(new Error('websocket unavailable'));
    if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    if (connecting) return connecting;
    connecting = new Promise((resolve, reject) => {
      let ws;
      try { ws = new WebSocket(`${API.replace(/^http/, 'ws')}/api/v1/chat/ws?key=${encodeURIComponent(KEY)}`); } catch (e) { reject(e); return; }
      const timer = setTimeout(() => { ws.close(); reject(new Error('websocket timeout')); }, 5000);
      ws.onopen = () => { clearTimeout(timer); socket = ws; resolve(ws); if (humanHolds()) follow(ws); };
      ws.onmessage = (event) => onFrame(event.data);
      ws.onclose = () => {
        clearTimeout(timer);
        if (socket === ws) socket = null;
        reject(new Error('websocket closed'));
        if (pending) pending.fail(Object.assign(new Error('websocket lost'), { lost: true }));
        if (humanHolds() && !state.wsBroken) setTimeout(() => { if (!socket) openSocket().catch(() => {}); }, 1000);
      };
    });
    connecting.catch(() => {}).finally(() => { connecting = null; });
    return connecting;
  }
  function onFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch { return; }
    if (onHumanFrame(frame)) return;
    if (!pending) return;
    if (frame.type === 'accepted' && frame.status === 'with_agent') { pending.done(frame); return; }
    if (frame.type === 'delta') pending.delta(String(frame.text || ''));
    else if (frame.type === 'final') pending.done(frame);
    else if (frame.type === 'error') pending.fail(new ApiError(frame.status || 500, frame.detail));
  }
  // A chosen "did you mean" suggestion travels with its question: the answer comes from that entry.
  const chosen = (suggestion) => (suggestion ? { suggestion: { source_ref: suggestion.source_ref } } : {});
  async function askOverSocket(text, onDelta, suggestion) {
    const ws = await openSocket();
    return new Promise((resolve, reject) => {
      let chunks = 0;
      pending = {
        delta(piece) { chunks += 1; onDelta(piece); },
        done(frame) { pending = null; resolve({ ...frame, transport: 'ws', chunks }); },
        fail(err) { pending = null; reject(Object.assign(err, { afterData: chunks > 0 })); },
      };
      ws.send(JSON.stringify(withUser({ type: 'message', message: text, visitor_id: state.visitorId, conversation_id: state.conversationId || undefined, ...chosen(suggestion) })));
    });
  }
  // Over HTTP a lost response (connection dropped, proxy timeout) is retried with the same
  // Idempotency-Key, one per customer message: the server stores and answers the question once and
  // replays that answer to the retry (409 while the first attempt is still being answered).
  const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : newVisitorId().slice(2));
  const RETRY_MS = [800, 2000, 4000];
  const retryable = (err) => err instanceof ApiError && (err.status === 0 || err.status === 409 || err.status === 502 || err.status === 503 || err.status === 504);
  async function askOverHttp(text, suggestion) {
    const body = withUser({ message: text, visitor_id: state.visitorId, conversation_id: state.conversationId || undefined, ...chosen(suggestion) });
    const headers = { 'Idempotency-Key': newKey() };
    for (let attempt = 0; ; attempt += 1) {
      try {
        return { ...await call('POST', '/api/v1/chat', body, headers), transport: 'http', chunks: 0 };
      } catch (err) {
        if (attempt >= RETRY_MS.length || !retryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS[attempt]));
      }
    }
  }

  // ---- the widget's DOM -----------------------------------------------------------------------
  const host = h('kefu-chat', { 'data-kefu': '' });
  const shadow = host.attachShadow({ mode: 'open' });
  const side = opt.position === 'left' ? 'left' : 'right';
  const color = opt.color && CSS.supports('color', opt.color) ? opt.color : '#2f6f4f';
  const title = opt.title || t('title');
  const avatar = opt.avatar ? safeHref(opt.avatar) : null;
  const starters = (opt.starters || '').split('|').map((q) => q.trim()).filter(Boolean).slice(0, 6);
  adoptStyles(shadow);

  // The launcher toggles: a chat bubble while closed, a close cross while the panel is open.
  const launcher = h('button', { class: 'launcher', type: 'button', 'aria-label': t('open'), 'aria-expanded': 'false', 'aria-controls': 'kefu-panel', onclick: () => toggle(panel.hidden) }, icon('chat'), icon('close'));
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('messages'), tabindex: '0' });
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const input = h('textarea', { rows: '1', placeholder: t('placeholder'), 'aria-label': t('input'), maxlength: '2000', enterkeyhint: 'send' });
  const sendButton = h('button', { class: 'send', type: 'submit', 'aria-label': t('send') }, icon('send'));
  const humanState = h('div', { class: 'human-state', role: 'status', hidden: true });
  const humanButton = h('button', { class: 'tool human', type: 'button', onclick: () => requestHuman() }, icon('person'), h('span', { text: t('human') }));
  const endButton = h('button', { class: 'tool end', type: 'button', onclick: () => endConversation() }, h('span', { text: t('end') }));
  const closeButton = h('button', { class: 'icon close', type: 'button', 'aria-label': t('close'), onclick: () => toggle(false) }, icon('close'));
  const micButton = h('button', { class: 'mic', type: 'button', 'aria-label': t('record'), title: t('record'), hidden: true, onclick: () => toggleRecording() }, icon('mic'));
  const recordingState = h('div', { class: 'recording', role: 'status', hidden: true }, h('i', { class: 'dot' }), h('span'),
    h('button', { type: 'button', class: 'icon cancel', 'aria-label': t('cancelRecording'), title: t('cancelRecording'), onclick: () => stopRecording(false) }, icon('close')));
  const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); submit(); } }, input, recordingState, micButton, sendButton);
  const panel = h('div', { class: 'panel', id: 'kefu-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'kefu-title', hidden: true },
    h('div', { class: 'head' }, avatar ? h('img', { class: 'avatar', src: avatar, alt: '' }) : null,
      h('h2', { id: 'kefu-title', text: title }), closeButton),
    h('div', { class: 'tools' }, humanButton, endButton), humanState,
    log, banner, form,
    h('div', { class: 'foot', text: t('poweredBy') }));
  const root = h('div', { class: `root ${side}`, lang: LANG === 'zh' ? 'zh-CN' : 'en' }, panel, launcher);
  root.style.setProperty('--kefu-color', color);
  shadow.append(root);

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  input.addEventListener('input', () => { input.style.height = 'auto'; input.style.height = `${Math.min(input.scrollHeight, 120)}px`; });
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden) { e.stopPropagation(); toggle(false); }
  });

  // The log sticks to its bottom while the customer has not scrolled up: whatever grows it (an
  // answer, its sources arriving later, buttons, history after a reload, fonts) keeps the newest
  // line in view. A customer reading older messages is left where they are.
  let pinned = true;
  function scrollDown(force) {
    if (force) pinned = true;
    if (pinned) log.scrollTop = log.scrollHeight;
  }
  log.addEventListener('scroll', () => { pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 24; }, { passive: true });
  if ('ResizeObserver' in window) {
    const follow = new ResizeObserver(() => scrollDown());
    follow.observe(log);
    new MutationObserver((changes) => {
      for (const change of changes) for (const added of change.addedNodes) if (added.nodeType === 1) follow.observe(added);
      scrollDown();
    }).observe(log, { childList: true, subtree: true });
  }
  function showBanner(text) { banner.textContent = text; banner.hidden = !text; }
  function systemNote(text) { log.append(h('div', { class: 'note', text })); scrollDown(); }
  function refreshTools() {
    humanButton.disabled = state.handedOff || state.blocked;
    humanButton.querySelector('span').textContent = state.handedOff ? t('humanAsked') : t('human');
    humanButton.setAttribute('aria-pressed', state.handedOff ? 'true' : 'false');
    endButton.disabled = !state.conversationId || state.ended || state.blocked;
    input.disabled = sendButton.disabled = state.blocked;
    micButton.hidden = !canRecord();
    micButton.disabled = state.blocked || (state.busy && !recorder);
  }

  function customerMessage(text) {
    const node = h('div', { class: 'msg customer' }, h('div', { class: 'bubble', text }));
    log.querySelector('.starters')?.remove();
    log.append(node);
    scrollDown(true);
    return node;
  }
  function botMessage(text, { id, greeting } = {}) {
    const bubble = h('div', { class: 'bubble' });
    if (text) bubble.append(markdown(text));
    const node = h('div', { class: greeting ? 'msg bot greeting' : 'msg bot' }, bubble);
    if (id) finishBotMessage(node, { message_id: id });
    log.append(node);
    scrollDown();
    return node;
  }
  function finishBotMessage(node, answer) {
    node.dataset.messageId = answer.message_id;
    if (answer.transport) node.dataset.transport = answer.transport;
    if (answer.chunks != null) node.dataset.chunks = String(answer.chunks);
    if (node.querySelector('.rate')) return;
    const rate = (value) => async () => {
      try {
        await call('POST', `/api/v1/chat/messages/${answer.message_id}/feedback`, withUser({ rating: value, visitor_id: state.visitorId }));
        state.rated[answer.message_id] = value;
        stored.set('rated', JSON.stringify(state.rated));
        markRating();
        thanks.textContent = t('thanksFeedback');
      } catch (err) { showBanner(problemText(err)); }
    };
    const up = h('button', { type: 'button', class: 'icon rate up', 'aria-label': t('helpful'), title: t('helpful'), onclick: rate(1) }, icon('up'));
    const down = h('button', { type: 'button', class: 'icon rate down', 'aria-label': t('notHelpful'), title: t('notHelpful'), onclick: rate(-1) }, icon('up', true));
    const thanks = h('span', { class: 'thanks', role: 'status' });
    const markRating = () => {
      up.setAttribute('aria-pressed', String(state.rated[answer.message_id] === 1));
      down.setAttribute('aria-pressed', String(state.rated[answer.message_id] === -1));
    };
    markRating();
    node.append(h('div', { class: 'actions' }, up, down, thanks));
    if ((answer.suggestions || []).length) showSuggestions(node, answer.suggestions);
    if (answer.suggest_handoff && !state.handedOff) {
      node.append(h('button', { type: 'button', class: 'tool offer', onclick: (e) => { e.currentTarget.remove(); requestHuman(); } }, icon('person'), h('span', { text: t('human') })));
    }
  }
  // "Did you mean": the entries the bot was unsure between, as buttons; choosing one asks it.
  function showSuggestions(node, suggestions) {
    if (node.querySelector('.suggestions')) return;
    const group = h('div', { class: 'suggestions', role: 'group', 'aria-label': t('didYouMean') },
      suggestions.map((s) => h('button', { type: 'button', class: 'starter suggestion', text: s.question,
        onclick: () => { group.remove(); submit(s.question, s); } })));
    node.querySelector('.bubble').after(group);
    scrollDown();
  }
  const flat = (text) => String(text || '').replace(/\s+/g, ' ').trim();
  // Sources are compact: a numbered list of titles, each expanding to its passage on demand.
  function showSources(node, sources) {
    if (!sources || !sources.length || node.querySelector('.sources')) return;
    // An FAQ answer quoted verbatim would repeat the bubble: then its question alone is the source.
    const said = flat(node.querySelector('.bubble').textContent);
    const items = sources.map((s) => {
      const quoted = said.includes(flat(s.snippet).replace(/…$/, ''));
      const name = s.url ? link(s.title, s.url) : h('span', { class: 'source-title', text: s.title });
      if (quoted || !s.snippet) return h('li', null, name);
      return h('li', null, h('details', null, h('summary', null, name), h('span', { class: 'snippet', text: s.snippet })));
    });
    const label = h('div', { class: 'label', text: t('sourcesCount', { n: sources.length }) });
    node.querySelector('.bubble').after(h('div', { class: 'sources' }, label, h('ol', null, items)));
  }
  async function loadSources(messageId) {
    if (!state.conversationId) return;
    const only = messageId ? `&message_id=${messageId}` : '';
    try {
      const body = await call('GET', `/api/v1/widget/conversations/${state.conversationId}/sources?${visitorQuery()}${only}`);
      for (const [id, sources] of Object.entries(body.sources || {})) {
        const node = log.querySelector(`.msg[data-message-id="${CSS.escape(id)}"]`);
        if (node) showSources(node, sources);
      }
    } catch { /* sources are a nicety: the answer itself is already shown */ }
  }

  const typing = h('div', { class: 'typing', role: 'status', 'aria-label': t('typing') }, h('i'), h('i'), h('i'));
  function setTyping(on) { if (on) { log.append(typing); scrollDown(); } else typing.remove(); }

  // ---- conversation flow ----------------------------------------------------------------------
  function remember(answer) {
    if (answer.visitor_id && answer.visitor_id !== state.visitorId) { state.visitorId = answer.visitor_id; stored.set('visitor', state.visitorId); }
    if (answer.conversation_id && answer.conversation_id !== state.conversationId) {
      state.conversationId = answer.conversation_id;
      stored.set('conversation', state.conversationId);
    }
  }
  function startNewConversation() {
    state.conversationId = null; state.ended = false; state.handedOff = false; setInbox(null, true);
    stored.drop('conversation');
    log.replaceChildren();
    systemNote(t('newChat'));
    greet();
    offerStarters();
  }

  async function submit(textOverride, suggestion) {
    const text = (textOverride || input.value).trim();
    if (!text || state.busy || state.blocked) return;
    if (PREVIEW) { input.value = ''; customerMessage(text); botMessage(t('previewAnswer')); return; }
    state.busy = true;
    if (!textOverride) { input.value = ''; input.style.height = 'auto'; }
    await load();
    if (state.blocked) { state.busy = false; if (!textOverride) input.value = text; return; }
    if (state.ended) startNewConversation();
    showBanner('');
    const mine = customerMessage(text);
    setTyping(true);
    let node = null;
    const onDelta = (piece) => {
      if (!node) { setTyping(false); node = botMessage(''); node.querySelector('.bubble').append(h('p', { class: 'streaming' })); }
      node.querySelector('.streaming').textContent += piece;
      scrollDown();
    };
    try {
      let answer;
      try {
        answer = await askOverSocket(text, onDelta, suggestion);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (err.afterData) { showBanner(t('interrupted')); state.wsBroken = true; return; }
        state.wsBroken = true;
        answer = await askOverHttp(text, suggestion);
      }
      setTyping(false);
      remember(answer);
      if (answer.status === 'with_agent') {  // a person holds the conversation: no bot answer is coming
        mine.dataset.messageId = answer.message_id;
        mine.append(h('span', { class: 'delivered', text: t('sentToAgent') }));
        setInbox(answer.inbox);
        return;
      }
      if (!node) node = botMessage('');
      const bubble = node.querySelector('.bubble');
      bubble.replaceChildren(markdown(answer.answer));
      finishBotMessage(node, answer);
      if (answer.handoff) { state.handedOff = true; ensureFollowing(); askContactIfClosed(); } // the answer itself says who is there
      if ((answer.citations || []).length) loadSources(answer.message_id);
    } catch (err) {
      setTyping(false);
      if (node) node.remove();
      mine.classList.add('failed');
      mine.append(h('span', { class: 'failed-label', text: t('notSent') }));
      showBanner(problemText(err));
      if (err.status === 403 || err.status === 401) { state.blocked = true; }
    } finally {
      state.busy = false;
      setTyping(false);
      refreshTools();
    }
  }

  // ---- voice questions: record with MediaRecorder, send the recording, show what was heard ------
  const RECORDABLE = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];
  let recorder = null;
  let recordTimer = null;
  function canRecord() {
    return !!(state.voice && state.voice.available && !PREVIEW && window.MediaRecorder && navigator.mediaDevices
      && navigator.mediaDevices.getUserMedia);
  }
  function toggleRecording() {
    if (recorder) stopRecording(true); else startRecording();
  }
  async function startRecording() {
    await load();
    if (!canRecord() || state.busy || state.blocked || recorder) return;
    showBanner('');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      showBanner(err && err.name === 'NotFoundError' ? t('noMic') : t('micDenied'));
      return;
    }
    const type = RECORDABLE.find((m) => MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(m));
    const rec = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const parts = [];
    rec.ondataavailable = (e) => { if (e.data && e.data.size) parts.push(e.data); };
    rec.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      if (rec.kefuSend) sendVoice(new Blob(parts, { type: rec.mimeType || type || 'audio/webm' }));
    };
    recorder = rec;
    const started = Date.now();
    const limit = Math.max(1, Number(state.voice.max_seconds) || 60);
    const tick = () => {
      const seconds = Math.min(limit, Math.floor((Date.now() - started) / 1000));
      const clock = (n) => `${Math.floor(n / 60)}:${String(n % 60).padStart(2, '0')}`;
      recordingState.querySelector('span').textContent = t('recording', { n: `${clock(seconds)} / ${clock(limit)}` });
      if (Date.now() - started >= limit * 1000) stopRecording(true);  // the server refuses longer ones
    };
    rec.start(1000);
    tick();
    recordTimer = setInterval(tick, 250);
    form.classList.add('is-recording');
    input.hidden = true; sendButton.hidden = true; recordingState.hidden = false;
    micButton.replaceChildren(icon('stop'));
    micButton.setAttribute('aria-label', t('stopRecording')); micButton.title = t('stopRecording');
    micButton.setAttribute('aria-pressed', 'true');
  }
  function stopRecording(send) {
    if (!recorder) return;
    const rec = recorder;
    recorder = null;
    clearInterval(recordTimer);
    rec.kefuSend = send;
    if (rec.state !== 'inactive') rec.stop();
    form.classList.remove('is-recording');
    input.hidden = false; sendButton.hidden = false; recordingState.hidden = true;
    micButton.replaceChildren(icon('mic'));
    micButton.setAttribute('aria-label', t('record')); micButton.title = t('record');
    micButton.setAttribute('aria-pressed', 'false');
    refreshTools();
  }
  async function postRecording(blob) {
    const ext = /ogg/.test(blob.type) ? 'ogg' : /mp4/.test(blob.type) ? 'm4a' : 'webm';
    const body = new FormData();
    body.append('file', blob, `question.${ext}`);
    body.append('visitor_id', state.visitorId);
    if (state.conversationId) body.append('conversation_id', state.conversationId);
    body.append('language', LANG);
    let response;
    try {
      response = await fetch(`${API}/api/v1/chat/audio`, {
        method: 'POST', mode: 'cors', credentials: 'omit', cache: 'no-store', body,
        headers: { 'X-Widget-Key': KEY, ...(USER ? { 'X-Kefu-User-Id': USER.id, 'X-Kefu-User-Hash': USER.hash } : {}) },
      });
    } catch {
      throw new ApiError(0, '');
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data.detail, response.headers.get('Retry-After'));
    return { ...data, transport: 'http', chunks: 0 };
  }
  function markVoice(node, text) {
    const bubble = node.querySelector('.bubble');
    node.classList.add('voice');
    bubble.replaceChildren(icon('mic'), h('span', { text }));
    bubble.setAttribute('aria-label', `${t('voiceLabel')}: ${text}`);
  }
  async function sendVoice(blob) {
    if (state.busy || state.blocked) return;
    state.busy = true;
    refreshTools();
    if (state.ended) startNewConversation();
    const mine = customerMessage(t('voiceSending'));
    mine.classList.add('voice', 'pending');
    mine.querySelector('.bubble').prepend(icon('mic'));
    setTyping(true);
    try {
      const answer = await postRecording(blob);
      markVoice(mine, answer.transcript || '');
      mine.classList.remove('pending');
      setTyping(false);
      remember(answer);
      if (answer.status === 'with_agent') {
        mine.dataset.messageId = answer.message_id;
        mine.append(h('span', { class: 'delivered', text: t('sentToAgent') }));
        setInbox(answer.inbox);
        return;
      }
      const node = botMessage(answer.answer);
      finishBotMessage(node, answer);
      if (answer.handoff) { state.handedOff = true; ensureFollowing(); askContactIfClosed(); }
      if ((answer.citations || []).length) loadSources(answer.message_id);
    } catch (err) {
      setTyping(false);
      mine.classList.remove('pending');
      mine.classList.add('failed');
      mine.append(h('span', { class: 'failed-label', text: t('notSent') }));
      showBanner(problemText(err));
      if (err.status === 403 || err.status === 401) state.blocked = true;
      if (err.status === 409) state.voice = null;  // voice was switched off meanwhile: hide the microphone
    } finally {
      state.busy = false;
      setTyping(false);
      refreshTools();
    }
  }

  async function requestHuman() {
    await load();
    if (state.handedOff || state.blocked || state.busy) return;
    if (!state.conversationId || state.ended) { await submit(t('humanMessage')); return; }
    try {
      const handed = await call('POST', `/api/v1/chat/conversations/${state.conversationId}/handoff`, withUser({ visitor_id: state.visitorId, reason: 'customer pressed "talk to a human" in the widget' }));
      state.handedOff = true;
      state.service = { open: handed.open, agent_online: handed.agent_online, ask_contact: handed.ask_contact, reason: handed.reason };
      setInbox(handed.inbox);
      if (handed.ask_contact) offerContact(); else if (!humanHolds()) systemNote(t('humanDone'));
      ensureFollowing();
    } catch (err) { showBanner(problemText(err)); }
    refreshTools();
  }

  // ---- a person in the conversation (docs/inbox.md) ---------------------------------------------
  // The conversation's events reach this socket from whichever API process the agent used.
  function humanHolds() { return !!(state.inbox && ['waiting', 'open'].includes(state.inbox.status)); }
  // No one can answer soon (outside office hours, or no agent has the inbox open): the queue number means little.
  function nobodyThere() { return !!(state.service && state.service.ask_contact); }
  function agentMessage(m) {
    if (m.message_id && !m.id) m = { ...m, id: m.message_id };
    if (m.id && log.querySelector(`.msg[data-message-id="${CSS.escape(m.id)}"]`)) return;  // never shown twice
    const node = h('div', { class: 'msg agent', 'data-message-id': m.id || '' },
      h('span', { class: 'agent-name', text: m.agent_name || t('agentName') }), h('div', { class: 'bubble', text: m.text }));
    log.append(node);
    scrollDown(true);
  }
  function setInbox(inbox, quiet) {
    const before = state.inbox || {};
    state.inbox = inbox || null;
    // Say once per hand-off that the customer waits, and their place; the strip keeps it current.
    if (!quiet && inbox && inbox.status === 'waiting' && !state.queueNoted && !nobodyThere()) { state.queueNoted = true; systemNote(t('queued', { n: inbox.position || 1 })); }
    if (!inbox || !['waiting', 'open'].includes(inbox.status)) state.queueNoted = false;
    if (humanHolds()) state.handedOff = true;
    if (!quiet && inbox && inbox.status === 'open' && inbox.agent_name && before.agent_name !== inbox.agent_name) systemNote(t('agentJoined', { n: inbox.agent_name }));
    if (inbox && inbox.status === 'waiting') humanState.textContent = nobodyThere() ? t(state.service.reason === 'closed' ? 'waitingClosed' : 'waitingNoAgent') : t('queuedShort', { n: inbox.position || 1 });
    else if (inbox && inbox.status === 'open') humanState.textContent = t('withAgent', { n: inbox.agent_name || t('agentName') });
    humanState.hidden = !humanHolds();
    humanState.className = `human-state ${inbox && inbox.status === 'open' ? 'with-agent' : 'waiting'}`;
    refreshTools();
  }
  function onHumanFrame(frame) {
    if (frame.type === 'agent_message') { agentMessage(frame); if (!state.inbox || state.inbox.status !== 'open') setInbox({ status: 'open', agent_name: frame.agent_name }); return true; }
    if (frame.type === 'agent_joined') { setInbox({ status: 'open', agent_name: frame.agent_name }); return true; }
    if (frame.type === 'queue') {
      // The frame says whether someone is there now: an agent opening the inbox turns "no one online" into a place in the queue.
      if ('ask_contact' in frame) state.service = { ...(state.service || {}), agent_online: frame.agent_online, ask_contact: frame.ask_contact, reason: frame.reason };
      setInbox({ status: 'waiting', position: frame.position });
      return true;
    }
    if (frame.type === 'back_to_bot') { state.inbox = null; state.handedOff = false; setInbox(null); systemNote(t('backToBot')); return true; }
    if (frame.type === 'subscribed') { setInbox(frame.inbox, true); return true; }
    return false;
  }
  function follow(ws) {
    if (state.conversationId) ws.send(JSON.stringify(withUser({ type: 'subscribe', conversation_id: state.conversationId, visitor_id: state.visitorId })));
    catchUp();
  }
  function ensureFollowing() {
    if (state.wsBroken) return;
    if (socket && socket.readyState === WebSocket.OPEN) follow(socket);
    else openSocket().catch(() => {});  // onopen follows
  }
  // After a reconnect, what an agent wrote meanwhile comes from the history (shown once, by id).
  async function catchUp() {
    if (!state.conversationId) return;
    try {
      const history = await call('GET', `/api/v1/chat/conversations/${state.conversationId}/messages?${visitorQuery()}`);
      for (const m of history.messages || []) if (m.role === 'agent') agentMessage(m);
    } catch { /* the next event or reload shows it */ }
  }
  // Outside office hours a hand-off reaches no one soon: say so, and ask where to reply (docs/notifications.md).
  async function askContactIfClosed() {
    const config = await call('GET', '/api/v1/widget/config').catch(() => null);
    if (config && config.service) { state.service = config.service; if (state.inbox) setInbox(state.inbox, true); }
    if (config && config.service && config.service.ask_contact) offerContact(false);
  }
  function offerContact(withNote = true) {
    if (withNote) systemNote(t(state.service && state.service.reason === 'no_agent' ? 'noAgentNote' : 'closedNote'));
    const email = h('input', { type: 'email', id: 'kefu-contact-email', autocomplete: 'email', maxlength: 320 });
    const phone = h('input', { type: 'tel', id: 'kefu-contact-phone', autocomplete: 'tel', maxlength: 40 });
    const error = h('p', { class: 'contact-error', role: 'alert', hidden: true });
    const send = h('button', { type: 'submit', class: 'contact-send', text: t('contactSend') });
    const fail = (text) => { error.textContent = text; error.hidden = false; };
    const form = h('form', { class: 'contact', novalidate: true, 'aria-labelledby': 'kefu-contact-q', onsubmit: async (event) => {
      event.preventDefault();
      const body = { visitor_id: state.visitorId, email: email.value.trim() || null, phone: phone.value.trim() || null };
      if (!body.email && !body.phone) { fail(t('contactNeeded')); return; }
      send.disabled = true;
      try {
        await call('POST', `/api/v1/chat/conversations/${state.conversationId}/contact`, withUser(body));
        const note = h('div', { class: 'note', role: 'status', text: t('contactSaved', { d: body.email || body.phone }) });
        form.replaceWith(note);
      } catch (err) { fail(err.status === 422 ? t('contactInvalid') : problemText(err)); send.disabled = false; }
    } },
    h('p', { id: 'kefu-contact-q', text: t('contactTitle') }),
    h('label', { for: 'kefu-contact-email', text: t('email') }), email,
    h('label', { for: 'kefu-contact-phone', text: t('phone') }), phone, error, send);
    log.append(form);
    scrollDown();
  }

  function endConversation() {
    if (!state.conversationId || state.ended) return;
    state.ended = true;
    refreshTools();
    const stars = [1, 2, 3, 4, 5].map((n) => h('button', { type: 'button', class: 'star', 'aria-label': t('csatStar', { n }), text: String(n), onclick: () => rateConversation(n, card) }));
    const card = h('div', { class: 'csat' }, h('p', { id: 'kefu-csat-q', text: t('csatQuestion') }),
      h('div', { role: 'group', 'aria-labelledby': 'kefu-csat-q', 'aria-description': t('csatGroup'), class: 'stars' }, stars));
    log.append(card);
    scrollDown();
    stars[0].focus();
  }
  async function rateConversation(score, card) {
    try {
      await call('POST', `/api/v1/chat/conversations/${state.conversationId}/csat`, withUser({ score, visitor_id: state.visitorId }));
      card.replaceChildren(h('p', { role: 'status', text: t('csatThanks', { n: score }) }));
      input.focus();
    } catch (err) { showBanner(problemText(err)); }
  }

  function greet() {
    botMessage(state.greeting || t('greeting'), { greeting: true });
  }
  // Starter questions only open a new conversation: offered once it is known that none is resumed,
  // so a returning customer never sees them appear and vanish when the history arrives.
  function offerStarters() {
    if (!starters.length || state.conversationId || log.querySelector('.starters, .msg.customer')) return;
    log.append(h('div', { class: 'starters', role: 'group', 'aria-label': t('starters') },
      starters.map((q) => h('button', { type: 'button', class: 'starter', text: q, onclick: () => submit(q) }))));
  }

  // First open: check the key and origin (config), then re-fetch the stored conversation. Anything
  // the customer does meanwhile waits for this, so history never lands after (or wipes) new messages.
  let loading = null;
  function load() {
    if (!loading) loading = loadOnce().then((done) => { if (!done) loading = null; });
    return loading;
  }
  async function loadOnce() {
    if (PREVIEW) { state.greeting = opt.greeting || null; log.replaceChildren(); greet(); offerStarters(); return true; }
    const config = await call('GET', '/api/v1/widget/config').then((c) => c, (err) => err);
    state.greeting = opt.greeting || (config instanceof Error ? null : config.greeting) || null;
    if (!(config instanceof Error)) state.service = config.service || null;
    state.voice = config instanceof Error ? null : config.voice || null;
    log.replaceChildren();
    if (config instanceof Error) {
      showBanner(problemText(config));
      if (config.status === 401 || config.status === 403) { state.blocked = true; refreshTools(); return true; }
    }
    greet();
    if (state.conversationId) await loadHistory(); // a 404 (another user's, or signed out) drops it
    if (!state.conversationId && USER) {
      await resumeUsersConversation();
      if (state.conversationId) await loadHistory();
    }
    offerStarters();
    refreshTools();
    return !(config instanceof Error); // unreachable: try again on the next open or message
  }
  // A signed-in customer sees their latest conversation on any device (the server checks the hash).
  async function resumeUsersConversation() {
    try {
      const latest = ((await call('GET', '/api/v1/chat/conversations?limit=1')).conversations || [])[0];
      if (latest && latest.csat == null) { state.conversationId = latest.id; stored.set('conversation', latest.id); }
    } catch { /* start a new conversation */ }
  }
  async function loadHistory() {
    let history;
    try {
      history = await call('GET', `/api/v1/chat/conversations/${state.conversationId}/messages?${visitorQuery()}`);
    } catch (err) {
      if (err.status === 404) { state.conversationId = null; stored.drop('conversation'); } else showBanner(problemText(err));
      return;
    }
    state.handedOff = !!history.handoff;
    state.ended = history.csat != null;
    for (const m of history.messages || []) {
      if (m.role === 'customer') { const node = customerMessage(m.text); if (m.voice) markVoice(node, m.text); }
      else if (m.role === 'assistant') botMessage(m.text, { id: m.id });
      else if (m.role === 'agent') agentMessage(m);
    }
    setInbox(history.inbox, true);
    state.handedOff = humanHolds();  // after a resolved hand-off the customer may ask for a person again
    refreshTools();
    if (humanHolds()) ensureFollowing();
    if (state.ended) systemNote(t('csatThanks', { n: history.csat }));
    if ((history.messages || []).some((m) => (m.citations || []).length)) loadSources();
  }

  function toggle(open) {
    panel.hidden = !open;
    root.classList.toggle('open', open);
    launcher.setAttribute('aria-expanded', String(open));
    launcher.setAttribute('aria-label', open ? t('close') : t('open'));
    if (!PREVIEW) stored.set('open', open ? '1' : '0', true);
    if (open) {
      load().then(() => scrollDown(true));
      scrollDown(true);
      if (!PREVIEW) setTimeout(() => (state.blocked ? closeButton : input).focus(), 0);
    } else if (!PREVIEW) {
      launcher.focus();
    }
  }

  function mount() {
    document.body.append(host);
    refreshTools();
    if (PREVIEW || stored.get('open', true) === '1') toggle(true);
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // A constructed stylesheet is not a <style> element, so `style-src 'self'` (no 'unsafe-inline')
  // does not block it. Browsers without constructable stylesheets (Safari before 16.4) get a
  // <style> element instead; sites with a strict CSP and such visitors see an unstyled widget.
  function adoptStyles(target) {
    if ('adoptedStyleSheets' in target && 'replaceSync' in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE());
      target.adoptedStyleSheets = [sheet];
    } else {
      target.append(h('style', { text: STYLE() }));
    }
  }

  function STYLE() {
    return `
:host { all: initial; }
.root { --kefu-color: #2f6f4f; position: fixed; bottom: 20px; z-index: 2147483000; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; color: #1f2328; letter-spacing: normal; text-align: left; }
.root.right { right: 20px; } .root.left { left: 20px; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
button { font: inherit; color: inherit; cursor: pointer; border: 0; background: none; margin: 0; padding: 0; line-height: 1.2; }
button:disabled { cursor: default; opacity: .55; }
button:focus-visible, a:focus-visible, .log:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
textarea:focus { outline: none; border-color: var(--kefu-color); box-shadow: 0 0 0 2px color-mix(in srgb, var(--kefu-color) 25%, transparent); }
svg { width: 20px; height: 20px; display: block; }
.launcher { width: 58px; height: 58px; border-radius: 50%; background: var(--kefu-color); color: #fff; display: grid; place-items: center; box-shadow: 0 6px 20px rgba(0,0,0,.25); margin-left: auto; }
.left .launcher { margin-left: 0; }
.launcher svg { width: 28px; height: 28px; }
.launcher svg + svg, .open .launcher svg:first-child { display: none; }
.open .launcher svg + svg { display: block; width: 24px; height: 24px; }
svg.flip { transform: rotate(180deg); }
.avatar { width: 30px; height: 30px; border-radius: 50%; object-fit: cover; background: #fff; flex: none; }
.panel { position: absolute; bottom: 72px; width: 370px; height: min(600px, calc(100vh - 110px)); background: #fff; border-radius: 14px; box-shadow: 0 12px 40px rgba(0,0,0,.28); display: flex; flex-direction: column; overflow: hidden; }
.right .panel { right: 0; } .left .panel { left: 0; }
.head { background: var(--kefu-color); color: #fff; display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px; }
.head h2 { font-size: 16px; font-weight: 600; margin: 0; flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.icon { display: inline-grid; place-items: center; width: 32px; height: 32px; border-radius: 8px; }
.head .icon:hover { background: rgba(255,255,255,.18); }
.tools { display: flex; gap: 8px; padding: 8px 12px; border-bottom: 1px solid #eceff1; background: #fafbfc; }
.tool { display: inline-flex; align-items: center; gap: 6px; padding: 6px 10px; border: 1px solid #d0d7de; border-radius: 16px; background: #fff; font-size: 13px; }
.tool svg { width: 16px; height: 16px; }
.tool:not(:disabled):hover { border-color: var(--kefu-color); }
.log { flex: 1; overflow-y: auto; padding: 14px 12px; display: flex; flex-direction: column; gap: 10px; background: #f6f8fa; }
.msg { display: flex; flex-direction: column; max-width: 86%; }
.msg.customer { align-self: flex-end; align-items: flex-end; }
.bubble { padding: 9px 12px; border-radius: 14px; overflow-wrap: anywhere; white-space: normal; }
.customer .bubble { background: var(--kefu-color); color: #fff; border-bottom-right-radius: 4px; white-space: pre-wrap; }
.bot .bubble { background: #fff; border: 1px solid #e3e7eb; border-bottom-left-radius: 4px; }
.bubble p { margin: 0; } .bubble p + p, .bubble p + ul, .bubble p + ol, .bubble ul + p, .bubble ol + p { margin-top: 8px; }
.bubble ul, .bubble ol { margin: 0; padding-left: 20px; }
.bubble code { font-family: ui-monospace, Menlo, Consolas, monospace; background: #eef1f4; padding: 0 4px; border-radius: 4px; }
.bubble a, .sources a { color: #0b5cad; }
.failed .bubble { opacity: .6; } .failed-label { font-size: 12px; color: #b42318; margin-top: 2px; }
.sources { margin-top: 4px; padding: 2px 0 0 8px; border-left: 2px solid color-mix(in srgb, var(--kefu-color) 45%, #d0d7de); font-size: 12px; line-height: 1.4; color: #57606a; }
.sources .label { font-weight: 600; margin-bottom: 1px; }
.sources ol { margin: 0; padding-left: 16px; }
.sources li + li { margin-top: 1px; }
.sources summary { cursor: pointer; }
.sources summary::marker { color: #8c959f; }
.source-title, .sources a { color: #3d444d; }
.sources a { color: #0b5cad; }
.snippet { display: block; margin: 2px 0 4px; padding: 4px 8px; background: #fff; border: 1px solid #e3e7eb; border-radius: 6px; color: #3d444d; }
.starters { display: flex; flex-wrap: wrap; gap: 6px; align-self: flex-start; max-width: 92%; }
.starter { padding: 6px 12px; border: 1px solid var(--kefu-color); color: var(--kefu-color); border-radius: 16px; background: #fff; font-size: 13px; text-align: left; }
.starter:hover, .starter:focus-visible { background: var(--kefu-color); color: #fff; }
.suggestions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.actions { display: flex; align-items: center; gap: 2px; margin-top: 2px; color: #57606a; }
.actions .icon { width: 30px; height: 30px; }
.actions svg { width: 16px; height: 16px; }
.rate:hover { background: #e8ebee; }
.rate[aria-pressed="true"] { color: var(--kefu-color); background: #e6f0ea; }
.thanks { font-size: 12px; margin-left: 4px; }
.offer { align-self: flex-start; margin-top: 4px; }
.msg.agent { align-self: flex-start; }
.agent-name { font-size: 12px; font-weight: 600; color: var(--kefu-color); margin: 0 0 2px 4px; }
.agent .bubble { background: #eef6f1; border: 1px solid #cfe3d8; border-bottom-left-radius: 4px; white-space: pre-wrap; }
.delivered { font-size: 11.5px; color: #57606a; margin-top: 2px; }
.human-state { padding: 6px 12px; font-size: 13px; background: #fff8e6; color: #6b4a00; border-bottom: 1px solid #f1e2b8; }
.human-state.with-agent { background: #eef6f1; color: #1f5137; border-bottom-color: #cfe3d8; }
.human-state::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: currentColor; margin-right: 6px; vertical-align: 1px; }
.note { align-self: center; text-align: center; font-size: 12.5px; color: #57606a; padding: 4px 8px; }
.typing { align-self: flex-start; display: flex; gap: 4px; padding: 12px 14px; background: #fff; border: 1px solid #e3e7eb; border-radius: 14px; }
.typing i { width: 7px; height: 7px; border-radius: 50%; background: #8c959f; animation: kefu-blink 1.2s infinite ease-in-out; }
.typing i:nth-child(2) { animation-delay: .2s; } .typing i:nth-child(3) { animation-delay: .4s; }
@keyframes kefu-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .typing i { animation: none; opacity: .6; } }
.csat { align-self: stretch; background: #fff; border: 1px solid #e3e7eb; border-radius: 12px; padding: 10px 12px; text-align: center; }
.csat p { margin: 0 0 8px; }
.contact { align-self: stretch; display: grid; gap: 4px; background: #fff; border: 1px solid #e3e7eb; border-radius: 12px; padding: 10px 12px; }
.contact p { margin: 0 0 4px; font-weight: 600; }
.contact label { font-size: 12.5px; color: #57606a; }
.contact input { font: inherit; color: inherit; border: 1px solid #d0d7de; border-radius: 8px; padding: 7px 9px; margin: 0 0 4px; background: #fff; }
.contact input:focus { outline: none; border-color: var(--kefu-color); box-shadow: 0 0 0 2px color-mix(in srgb, var(--kefu-color) 25%, transparent); }
.contact .contact-error { font-weight: 400; font-size: 12.5px; color: #b42318; }
.contact-send { justify-self: end; padding: 7px 16px; border-radius: 16px; background: var(--kefu-color); color: #fff; }
.stars { display: flex; justify-content: center; gap: 6px; }
.star { width: 40px; height: 40px; border-radius: 50%; border: 1px solid #d0d7de; background: #fff; font-weight: 600; }
.star:hover, .star:focus-visible { background: var(--kefu-color); color: #fff; }
.banner { padding: 8px 12px; background: #fff4e5; color: #7a3e00; border-top: 1px solid #f5d9b0; font-size: 13px; }
.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid #eceff1; background: #fff; }
textarea { flex: 1; resize: none; font: inherit; color: inherit; border: 1px solid #d0d7de; border-radius: 10px; padding: 8px 10px; max-height: 120px; min-height: 38px; background: #fff; margin: 0; }
.send { width: 38px; height: 38px; border-radius: 50%; background: var(--kefu-color); color: #fff; display: grid; place-items: center; flex: none; }
.mic { width: 38px; height: 38px; border-radius: 50%; border: 1px solid #d0d7de; color: #3d444d; background: #fff; display: grid; place-items: center; flex: none; }
.mic:not(:disabled):hover { border-color: var(--kefu-color); color: var(--kefu-color); }
.is-recording .mic { background: #b42318; border-color: #b42318; color: #fff; }
.recording { flex: 1; display: flex; align-items: center; gap: 8px; min-height: 38px; padding: 0 4px 0 10px; border: 1px solid #f1c4bf; border-radius: 10px; background: #fff5f4; color: #7a271a; font-variant-numeric: tabular-nums; }
.recording span { flex: 1; }
.recording .dot { width: 10px; height: 10px; border-radius: 50%; background: #d92d20; animation: kefu-blink 1.2s infinite ease-in-out; }
.recording .cancel { width: 28px; height: 28px; color: #7a271a; }
.recording .cancel svg { width: 16px; height: 16px; }
.msg.voice .bubble { display: flex; gap: 6px; align-items: flex-start; }
.msg.voice .bubble svg { width: 16px; height: 16px; flex: none; margin-top: 2px; opacity: .85; }
.msg.voice.pending .bubble { opacity: .7; }
@media (prefers-reduced-motion: reduce) { .recording .dot { animation: none; } }
.foot { text-align: center; font-size: 11px; color: #8c959f; padding: 0 0 6px; background: #fff; }
@media (max-width: 480px) {
  .root { bottom: 12px; } .root.right { right: 12px; } .root.left { left: 12px; }
  .root.open { inset: 0; }
  .root.open .launcher { display: none; }
  .panel { position: fixed; inset: 0; width: 100%; height: 100%; border-radius: 0; }
  .msg { max-width: 92%; }
  textarea, .contact input { font-size: 16px; }
}`;
  }
})();
