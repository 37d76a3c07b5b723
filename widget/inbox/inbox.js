/* Kefu agent inbox: the page staff keep open all day. Live over WS /api/v1/inbox/ws (Redis pub/sub
   behind it, so it works whichever API process serves it); everything else is the REST API.
   Text is always set with textContent: customer messages are never HTML. */
(() => {
  'use strict';

  const STRINGS = {
    en: {
      title: 'Inbox', signIn: 'Sign in', email: 'Email', password: 'Password', signOut: 'Sign out',
      signInTitle: 'Agent inbox', signInHint: 'Sign in with the account your admin created for you.',
      waiting: 'Waiting', mine: 'Mine', open: 'All open', resolved: 'Resolved',
      empty: { waiting: 'Nobody is waiting. New hand-offs appear here at once.', mine: 'You hold no conversations.',
        open: 'No conversation is held by an agent.', resolved: 'Nothing resolved yet.' },
      pick: 'Choose a conversation on the left.', waitingFor: 'waiting {t}', heldBy: 'with {n}',
      assign: 'Assign to me', release: 'Hand back to the bot', resolve: 'Resolve', send: 'Send',
      replyPlaceholder: 'Write a reply… (type / for canned responses)', replyLabel: 'Reply to the customer',
      customer: 'Customer', bot: 'Assistant', agent: 'Agent', reason: 'Reason', language: 'Language',
      confidence: 'confidence {c}', sources: 'Sources', assist: 'Agent assist',
      assistHint: 'What the knowledge base has for the last customer message', insert: 'Insert',
      noAssist: 'The knowledge base has nothing close to this message.', canned: 'Canned responses',
      noCanned: 'No canned responses yet.', addCanned: 'Add', shortcut: 'shortcut', cannedText: 'text',
      deleteCanned: 'Delete', live: 'Live', offline: 'Reconnecting…', back: 'Back',
      statusWaiting: 'Waiting for an agent (number {p} in the queue)', statusOpen: 'Held by {n}',
      statusResolved: 'Resolved', statusBot: 'The bot is answering', taken: 'Taken by someone else',
      newHandoff: 'New hand-off', notAgent: 'This account cannot use the inbox (role {r}).', sending: 'Sending…',
      retry: 'Not sent; try again.', handedOff: 'Handed off', visitor: 'Visitor {v}', lang: '中文',
      secondsAgo: '{n} s', minutesAgo: '{n} min', hoursAgo: '{n} h',
      reasons: { button: 'The customer pressed "Talk to a human"', asked: 'The customer asked for a person' },
    },
    zh: {
      title: '客服工作台', signIn: '登录', email: '邮箱', password: '密码', signOut: '退出',
      signInTitle: '客服工作台', signInHint: '请使用管理员为您创建的账号登录。',
      waiting: '等待中', mine: '我的', open: '全部进行中', resolved: '已解决',
      empty: { waiting: '暂无等待的客户，新的转人工会立即出现在这里。', mine: '您当前没有接待中的对话。',
        open: '没有客服正在接待的对话。', resolved: '还没有已解决的对话。' },
      pick: '请在左侧选择一个对话。', waitingFor: '已等待 {t}', heldBy: '由 {n} 接待',
      assign: '由我接待', release: '交回机器人', resolve: '标记已解决', send: '发送',
      replyPlaceholder: '输入回复…（输入 / 使用快捷回复）', replyLabel: '回复客户',
      customer: '客户', bot: '智能助手', agent: '客服', reason: '原因', language: '语言',
      confidence: '置信度 {c}', sources: '参考来源', assist: '智能辅助',
      assistHint: '知识库中与客户最新消息相关的内容', insert: '插入',
      noAssist: '知识库中没有与这条消息相近的内容。', canned: '快捷回复',
      noCanned: '还没有快捷回复。', addCanned: '添加', shortcut: '快捷词', cannedText: '内容',
      deleteCanned: '删除', live: '实时', offline: '正在重新连接…', back: '返回',
      statusWaiting: '等待客服接待（排队第 {p} 位）', statusOpen: '由 {n} 接待中',
      statusResolved: '已解决', statusBot: '机器人正在回答', taken: '已被其他客服接待',
      newHandoff: '新的转人工', notAgent: '此账号无法使用客服工作台（角色：{r}）。', sending: '发送中…',
      retry: '发送失败，请重试。', handedOff: '已转人工', visitor: '访客 {v}', lang: 'English',
      secondsAgo: '{n} 秒', minutesAgo: '{n} 分钟', hoursAgo: '{n} 小时',
      reasons: { button: '客户点击了“转人工客服”', asked: '客户要求人工服务' },
    },
  };
  const store = {
    get(k) { try { return localStorage.getItem('kefu-inbox:' + k); } catch { return null; } },
    set(k, v) { try { if (v == null) localStorage.removeItem('kefu-inbox:' + k); else localStorage.setItem('kefu-inbox:' + k, v); } catch { /* private mode */ } },
  };
  const params = new URLSearchParams(location.search);
  let LANG = params.get('lang') || store.get('lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  const t = (key, vars) => {
    let s = key.split('.').reduce((o, k) => (o ? o[k] : undefined), STRINGS[LANG]);
    if (s == null) s = key;
    return String(s).replace(/\{(\w)\}/g, (_, v) => (vars && v in vars ? vars[v] : ''));
  };

  const state = {
    token: store.get('token'), me: null, tab: 'waiting', items: [], counts: {}, current: null, detail: null,
    canned: [], socket: null, live: false, unseen: 0, seen: new Set(), retryDelay: 500, usedEntry: null,
  };

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c != null) node.append(c.nodeType ? c : document.createTextNode(String(c)));
    return node;
  }

  class ApiError extends Error { constructor(status, detail) { super(detail || `HTTP ${status}`); this.status = status; } }
  async function api(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method, cache: 'no-store',
        headers: { Authorization: `Bearer ${state.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch { throw new ApiError(0, ''); }
    if (response.status === 401) { signOut(); throw new ApiError(401, 'signed out'); }
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data.detail);
    return data;
  }

  // ---- notification: a short two-tone chime and the count in the tab title --------------------
  let audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [880, 1320].forEach((freq, i) => {
        const osc = audio.createOscillator(); const gain = audio.createGain();
        osc.frequency.value = freq; osc.connect(gain); gain.connect(audio.destination);
        const at = audio.currentTime + i * 0.15;
        gain.gain.setValueAtTime(0.15, at); gain.gain.exponentialRampToValueAtTime(0.001, at + 0.3);
        osc.start(at); osc.stop(at + 0.3);
      });
    } catch { /* no audio: the badge still shows */ }
  }
  function updateTitle() {
    const waiting = state.counts.waiting || 0;
    document.title = `${waiting ? `(${waiting}) ` : ''}${state.unseen ? '● ' : ''}${t('title')} · Kefu`;
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) { state.unseen = 0; updateTitle(); } });

  // ---- sign in -------------------------------------------------------------------------------
  const app = document.getElementById('app');
  function langButton() {
    return h('button', { type: 'button', class: 'link lang', id: 'lang', onclick: () => { LANG = LANG === 'zh' ? 'en' : 'zh'; store.set('lang', LANG); render(); } }, t('lang'));
  }
  function renderSignIn(error) {
    document.documentElement.lang = LANG === 'zh' ? 'zh-CN' : 'en';
    const email = h('input', { type: 'email', id: 'email', autocomplete: 'username', required: true });
    const password = h('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
    const message = h('p', { class: 'error', role: 'alert', text: error || '' });
    const form = h('form', { class: 'signin', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ email: email.value, password: password.value }) });
        const body = await r.json().catch(() => ({}));
        if (!r.ok) { message.textContent = body.detail || `HTTP ${r.status}`; return; }
        state.token = body.token; store.set('token', body.token); store.set('email', email.value.trim().toLowerCase()); start();
      } catch { message.textContent = t('offline'); }
    } },
    h('h1', { text: t('signInTitle') }), h('p', { class: 'hint', text: t('signInHint') }),
    h('label', { for: 'email', text: t('email') }), email,
    h('label', { for: 'password', text: t('password') }), password,
    message, h('button', { type: 'submit', class: 'primary', text: t('signIn') }), langButton());
    app.className = 'signin-page';
    app.replaceChildren(form);
    email.focus();
  }
  function signOut() {
    store.set('token', null); state.token = null;
    if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
    renderSignIn();
  }

  // ---- the live socket -------------------------------------------------------------------------
  function connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/inbox/ws`);
    state.socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: state.token }));
    // While this page is open its agent counts as online (customers are told someone is there):
    // a heartbeat every few seconds, and an answer to each ping, keep that true (chat.presence).
    let beat = null;
    const heartbeat = () => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'heartbeat' })); };
    ws.onmessage = (e) => {
      let event; try { event = JSON.parse(e.data); } catch { return; }
      if (event.type === 'ping') heartbeat();
      if (event.type === 'ready') {
        state.live = true; state.retryDelay = 500; renderStatus(); refreshList(); if (state.current) openConversation(state.current, true);
        clearInterval(beat); beat = setInterval(heartbeat, 1000 * (event.heartbeat_seconds || 20));
        return;
      }
      if (event.type === 'error') { if (event.status === 401) signOut(); else showToast(event.detail); return; }
      onEvent(event);
    };
    ws.onclose = () => {
      clearInterval(beat);
      state.live = false; renderStatus();
      if (!state.token) return;
      setTimeout(connect, state.retryDelay); state.retryDelay = Math.min(state.retryDelay * 2, 10000);
    };
  }
  let refreshTimer = null;
  function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refreshList, 150); }
  function onEvent(event) {
    if (event.type === 'ping') return;
    const mine = event.conversation_id && event.conversation_id === state.current;
    if (event.type === 'handoff') {
      chime(); state.unseen += document.hidden ? 1 : 0; showToast(`${t('newHandoff')}: ${reasonText(event.reason)}`);
    }
    if ((event.type === 'customer_message' || event.type === 'agent_message') && mine) {
      appendMessage({ id: event.message_id, role: event.type === 'agent_message' ? 'agent' : 'customer', text: event.text, agent_name: event.agent_name, created_at: event.created_at });
      if (event.type === 'customer_message') { if (document.hidden) { state.unseen += 1; chime(); } reloadDetailSoon(); }
    }
    if (['assigned', 'resolved', 'released', 'handoff'].includes(event.type) && mine) reloadDetailSoon();
    refreshSoon();
    updateTitle();
  }
  let detailTimer = null;
  function reloadDetailSoon() { clearTimeout(detailTimer); detailTimer = setTimeout(() => state.current && openConversation(state.current, true), 200); }

  // ---- data ------------------------------------------------------------------------------------
  async function refreshList() {
    const tabs = ['waiting', 'open', 'resolved'];
    try {
      const [lists, mine] = await Promise.all([
        Promise.all(tabs.map((s) => api('GET', `/api/v1/inbox?status=${s}&limit=100`))),
        api('GET', '/api/v1/inbox?status=open&mine=true&limit=100'),
      ]);
      tabs.forEach((s, i) => { state.counts[s] = lists[i].total; if (s === state.tab) state.items = lists[i].items; });
      state.counts.mine = mine.total;
      if (state.tab === 'mine') state.items = mine.items;
      renderList(); updateTitle();
    } catch (err) { if (err.status !== 401) showToast(err.message); }
  }
  async function loadCanned() {
    try { state.canned = (await api('GET', '/api/v1/canned-responses')).items; } catch { state.canned = []; }
    renderCanned();
  }
  async function openConversation(id, quiet) {
    state.current = id;
    if (!quiet) { app.classList.add('reading'); renderList(); }
    try {
      state.detail = await api('GET', `/api/v1/inbox/${id}`);
      renderConversation(!quiet);
    } catch (err) { showToast(err.message); }
  }

  // ---- rendering ------------------------------------------------------------------------------
  const els = {};
  // The reasons Kefu itself writes are shown in the agent's language; a model's own words as they are.
  function reasonText(reason) {
    if (!reason) return '';
    if (reason === 'customer pressed "talk to a human" in the widget') return t('reasons.button');
    if (reason === 'customer asked for a person') return t('reasons.asked');
    return reason;
  }
  function since(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return t('secondsAgo', { n: s });
    if (s < 3600) return t('minutesAgo', { n: Math.floor(s / 60) });
    return t('hoursAgo', { n: Math.floor(s / 3600) });
  }
  function render() {
    document.documentElement.lang = LANG === 'zh' ? 'zh-CN' : 'en';
    if (!state.token) { renderSignIn(); return; }
    app.className = state.current ? 'inbox reading' : 'inbox';
    els.status = h('span', { class: 'live', id: 'live', role: 'status' });
    els.tabs = h('nav', { class: 'tabs', 'aria-label': t('title') });
    els.list = h('ul', { class: 'list', id: 'list' });
    els.main = h('section', { class: 'conversation', id: 'conversation', 'aria-live': 'polite' });
    els.side = h('aside', { class: 'side', id: 'side' });
    els.toast = h('div', { class: 'toast', role: 'status', hidden: true });
    app.replaceChildren(
      h('header', { class: 'top' }, h('strong', { class: 'brand', text: 'Kefu 客服' }), h('span', { class: 'page', text: t('title') }), els.status,
        h('span', { class: 'who', text: state.me ? `${state.me.email} · ${state.me.role}` : '' }), langButton(),
        h('button', { type: 'button', class: 'link', id: 'signout', onclick: signOut, text: t('signOut') })),
      h('div', { class: 'columns' }, h('div', { class: 'left' }, els.tabs, els.list), els.main, els.side),
      els.toast);
    renderStatus(); renderList(); renderCanned();
    if (state.detail && state.current) renderConversation(false); else renderEmpty();
    updateTitle();
  }
  function renderStatus() {
    if (!els.status) return;
    els.status.textContent = state.live ? t('live') : t('offline');
    els.status.className = state.live ? 'live on' : 'live off';
  }
  function renderEmpty() {
    els.main.replaceChildren(h('p', { class: 'pick', text: t('pick') }));
    els.side.replaceChildren(cannedBox());
  }
  function renderList() {
    if (!els.tabs) return;
    els.tabs.replaceChildren(...['waiting', 'mine', 'open', 'resolved'].map((tab) => h('button', {
      type: 'button', class: tab === state.tab ? 'tab active' : 'tab', id: `tab-${tab}`, 'aria-pressed': String(tab === state.tab),
      onclick: () => { state.tab = tab; refreshList(); renderList(); },
    }, t(tab), h('span', { class: 'count', text: String(state.counts[tab] ?? '') }))));
    if (!state.items.length) { els.list.replaceChildren(h('li', { class: 'empty', text: t(`empty.${state.tab}`) })); return; }
    els.list.replaceChildren(...state.items.map((item) => h('li', null, h('button', {
      type: 'button', class: item.conversation_id === state.current ? 'item current' : 'item', 'data-id': item.conversation_id,
      onclick: () => openConversation(item.conversation_id),
    },
    h('span', { class: 'row' }, h('strong', { text: item.customer_name || t('visitor', { v: item.conversation_id.slice(0, 6) }) }),
      h('span', { class: `lang-tag ${item.language || ''}`, text: (item.language || '').toUpperCase() }),
      h('span', { class: 'age', 'data-since': item.handoff_at || item.last_message_at, text: item.status === 'waiting' ? t('waitingFor', { t: since(item.handoff_at || item.last_message_at) }) : (item.assignee_name ? t('heldBy', { n: item.assignee_name }) : '') })),
    h('span', { class: 'reason', text: reasonText(item.reason) }),
    h('span', { class: 'snippet', text: item.last_customer_message || '' }),
    item.last_bot_answer ? h('span', { class: 'bot-snippet', text: `${t('bot')}: ${item.last_bot_answer}` }) : null))));
  }
  setInterval(() => {
    document.querySelectorAll('.item .age[data-since]').forEach((node) => {
      if (node.textContent && state.tab === 'waiting') node.textContent = t('waitingFor', { t: since(node.dataset.since) });
    });
  }, 1000);

  function messageNode(m) {
    const who = m.role === 'agent' ? (m.agent_name || t('agent')) : m.role === 'assistant' ? t('bot') : t('customer');
    const meta = [h('span', { class: 'who', text: who }), h('time', { text: new Date(m.created_at).toLocaleTimeString(LANG === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' }) })];
    if (m.role === 'assistant' && m.confidence != null) meta.push(h('span', { class: 'confidence', text: t('confidence', { c: m.confidence.toFixed(2) }) }));
    if (m.handoff) meta.push(h('span', { class: 'flag', text: t('handedOff') }));
    const sources = (m.sources || []).length ? h('details', { class: 'sources' }, h('summary', { text: `${t('sources')} (${m.sources.length})` }),
      h('ol', null, m.sources.map((s) => h('li', null, h('strong', { text: s.title }), ' ', h('span', { text: s.answer }))))) : null;
    return h('div', { class: `msg ${m.role}`, 'data-id': m.id }, h('div', { class: 'meta' }, meta), h('div', { class: 'bubble', text: m.text }), sources);
  }
  function appendMessage(m) {
    if (!els.transcript || (m.id && els.transcript.querySelector(`[data-id="${CSS.escape(m.id)}"]`))) return;
    els.transcript.append(messageNode(m));
    els.transcript.scrollTop = els.transcript.scrollHeight;
  }
  function statusLine(d) {
    if (d.status === 'waiting') return t('statusWaiting', { p: d.queue_position || 1 });
    if (d.status === 'open') return t('statusOpen', { n: d.assignee_name || '' });
    if (d.status === 'resolved') return t('statusResolved');
    return t('statusBot');
  }
  function renderConversation(focus) {
    const d = state.detail;
    const draft = els.reply ? els.reply.value : '';
    const typing = els.reply && document.activeElement === els.reply;  // a re-render must not take the reply box away
    const mineHeld = d.status === 'open' && state.me && d.assignee_id === state.me.user_id;
    const takenByOther = d.status === 'open' && !mineHeld;
    const actions = h('div', { class: 'actions' },
      d.status !== 'open' || takenByOther ? h('button', { type: 'button', class: 'primary', id: 'assign', disabled: takenByOther, onclick: () => act('assign') }, takenByOther ? t('taken') : t('assign')) : null,
      ['waiting', 'open'].includes(d.status) && !takenByOther ? h('button', { type: 'button', id: 'release', onclick: () => act('release') }, t('release')) : null,
      ['waiting', 'open'].includes(d.status) && !takenByOther ? h('button', { type: 'button', id: 'resolve', onclick: () => act('resolve') }, t('resolve')) : null);
    els.transcript = h('div', { class: 'transcript', id: 'transcript', tabindex: '0' }, d.messages.map(messageNode));
    els.reply = h('textarea', { id: 'reply', rows: '3', placeholder: t('replyPlaceholder'), 'aria-label': t('replyLabel'), maxlength: '4000', disabled: takenByOther || d.status === 'resolved' });
    els.reply.value = draft;
    els.suggest = h('ul', { class: 'suggest', id: 'suggest', role: 'listbox', hidden: true });
    els.reply.addEventListener('input', suggestCanned);
    els.reply.addEventListener('keydown', onReplyKey);
    const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); sendReply(); } }, els.suggest, els.reply,
      h('button', { type: 'submit', class: 'primary', id: 'send', disabled: takenByOther || d.status === 'resolved' }, t('send')));
    els.main.replaceChildren(
      h('div', { class: 'head' },
        h('button', { type: 'button', class: 'link back', onclick: () => { state.current = null; state.detail = null; app.classList.remove('reading'); renderEmpty(); renderList(); } }, `‹ ${t('back')}`),
        h('div', { class: 'title' }, h('h2', { text: d.customer_name || t('visitor', { v: d.conversation_id.slice(0, 6) }) }),
          h('p', { class: 'state', id: 'state', text: statusLine(d) }),
          d.reason ? h('p', { class: 'reason', text: `${t('reason')}: ${reasonText(d.reason)}` }) : null),
        actions),
      els.transcript, form);
    els.transcript.scrollTop = els.transcript.scrollHeight;
    els.side.replaceChildren(assistBox(d), cannedBox());
    if ((focus || typing) && !els.reply.disabled) { els.reply.focus(); els.reply.selectionStart = els.reply.selectionEnd = draft.length; }
    if (draft) suggestCanned();
  }
  function assistBox(d) {
    const entries = (d.assist && d.assist.entries) || [];
    return h('section', { class: 'box assist', id: 'assist' }, h('h3', { text: t('assist') }), h('p', { class: 'hint', text: t('assistHint') }),
      entries.length ? h('ul', null, entries.map((e) => h('li', null, h('strong', { text: e.title }), h('p', { text: e.answer }),
        h('button', { type: 'button', class: 'small insert', onclick: () => { insert(e.answer); if (e.source_ref) state.usedEntry = { conversation: state.current, source_ref: e.source_ref }; } }, t('insert'))))) : h('p', { class: 'empty', text: t('noAssist') }));
  }
  function cannedBox() {
    const admin = state.me && ['admin', 'owner'].includes(state.me.role);
    const shortcut = h('input', { placeholder: t('shortcut'), 'aria-label': t('shortcut'), id: 'canned-shortcut', size: '8' });
    const text = h('input', { placeholder: t('cannedText'), 'aria-label': t('cannedText'), id: 'canned-text' });
    els.cannedList = h('ul', { class: 'canned-list' });
    const box = h('section', { class: 'box canned', id: 'canned' }, h('h3', { text: t('canned') }), els.cannedList,
      admin ? h('form', { class: 'row', onsubmit: async (e) => {
        e.preventDefault();
        try { await api('POST', '/api/v1/canned-responses', { shortcut: shortcut.value, text: text.value }); shortcut.value = ''; text.value = ''; loadCanned(); } catch (err) { showToast(err.message); }
      } }, shortcut, text, h('button', { type: 'submit', class: 'small', text: t('addCanned') })) : null);
    renderCanned();
    return box;
  }
  function renderCanned() {
    if (!els.cannedList) return;
    const admin = state.me && ['admin', 'owner'].includes(state.me.role);
    els.cannedList.replaceChildren(...(state.canned.length ? state.canned.map((c) => h('li', null,
      h('button', { type: 'button', class: 'link', onclick: () => insert(c.text) }, `/${c.shortcut}`), ' ', h('span', { text: c.text }),
      admin ? h('button', { type: 'button', class: 'small danger', 'aria-label': `${t('deleteCanned')} /${c.shortcut}`, onclick: async () => { await api('DELETE', `/api/v1/canned-responses/${c.id}`).catch((err) => showToast(err.message)); loadCanned(); } }, '×') : null))
      : [h('li', { class: 'empty', text: t('noCanned') })]));
  }
  function insert(text) {
    if (!els.reply || els.reply.disabled) return;
    const r = els.reply;
    const before = r.value.slice(0, r.selectionStart).replace(/\/[\w\-\u4e00-\u9fff]*$/, '');
    r.value = before + text + r.value.slice(r.selectionEnd);
    r.focus(); r.selectionStart = r.selectionEnd = (before + text).length;
    els.suggest.hidden = true;
  }
  function currentShortcut() {
    const m = els.reply.value.slice(0, els.reply.selectionStart).match(/(?:^|\s)\/([\w\-\u4e00-\u9fff]*)$/);
    return m ? m[1].toLowerCase() : null;
  }
  function suggestCanned() {
    const word = currentShortcut();
    const found = word == null ? [] : state.canned.filter((c) => c.shortcut.toLowerCase().startsWith(word));
    els.suggest.hidden = !found.length;
    els.suggest.replaceChildren(...found.slice(0, 6).map((c, i) => h('li', { role: 'option', class: i === 0 ? 'active' : '', 'aria-selected': String(i === 0), onmousedown: (e) => { e.preventDefault(); insert(c.text); } },
      h('strong', { text: `/${c.shortcut}` }), ' ', h('span', { text: c.text }))));
    els.suggest.found = found;
  }
  function onReplyKey(e) {
    if (!els.suggest.hidden && (e.key === 'Tab' || e.key === 'Enter') && els.suggest.found && els.suggest.found.length) {
      e.preventDefault(); insert(els.suggest.found[0].text); return;
    }
    if (e.key === 'Escape') { els.suggest.hidden = true; return; }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(); }
  }
  async function sendReply() {
    const text = els.reply.value.trim();
    if (!text || !state.current) return;
    const id = state.current;
    const clientRef = (crypto.randomUUID && crypto.randomUUID()) || `r${Date.now()}${Math.random()}`;
    // The agent-assist entry inserted into this reply: the customer's wording may become a similar question for it.
    const used = state.usedEntry && state.usedEntry.conversation === id ? { source_ref: state.usedEntry.source_ref } : null;
    state.usedEntry = null;
    els.reply.value = ''; els.suggest.hidden = true;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        const sent = await api('POST', `/api/v1/inbox/${id}/messages`, used ? { text, client_ref: clientRef, used_entry: used } : { text, client_ref: clientRef });
        if (state.current === id) appendMessage({ id: sent.message_id, role: 'agent', text, agent_name: sent.agent_name, created_at: new Date().toISOString() });
        reloadDetailSoon();
        return;
      } catch (err) {
        if (err.status && err.status !== 0 && err.status < 500) { showToast(err.message); if (state.current === id && !els.reply.value) els.reply.value = text; return; }
        await new Promise((r) => setTimeout(r, 400 * (attempt + 1)));  // the same client_ref: stored once however often it is sent
      }
    }
    showToast(t('retry')); if (state.current === id && !els.reply.value) els.reply.value = text;
  }
  async function act(action) {
    try { await api('POST', `/api/v1/inbox/${state.current}/${action}`); } catch (err) { showToast(err.message); }
    await openConversation(state.current, true); refreshList();
  }
  let toastTimer = null;
  function showToast(text) {
    if (!els.toast || !text) return;
    els.toast.textContent = text; els.toast.hidden = false;
    clearTimeout(toastTimer); toastTimer = setTimeout(() => { els.toast.hidden = true; }, 4000);
  }

  // ---- start -----------------------------------------------------------------------------------
  function tokenClaims(token) {
    try { return JSON.parse(atob(token.slice('kefu_tk_'.length).split('.')[0].replace(/-/g, '+').replace(/_/g, '/'))); } catch { return null; }
  }
  async function start() {
    const claims = tokenClaims(state.token || '');
    if (!claims) { signOut(); return; }
    try {
      const users = await fetch('/api/v1/inbox?status=waiting&limit=1', { headers: { Authorization: `Bearer ${state.token}` } });
      if (users.status === 401) { signOut(); return; }
      if (users.status === 403) { const body = await users.json().catch(() => ({})); store.set('token', null); state.token = null; renderSignIn(body.detail || t('notAgent', { r: claims.r })); return; }
    } catch { /* offline: the socket retries */ }
    state.me = { user_id: claims.u, role: claims.r, email: store.get('email') || '', name: '' };
    render(); refreshList(); loadCanned(); connect();
  }
  if (state.token) start(); else renderSignIn();
})();
