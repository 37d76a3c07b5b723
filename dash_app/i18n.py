"""The admin app's words in English and Simplified Chinese; the language switch stores the choice in the session."""

from __future__ import annotations

from typing import Any

import flask

from dash_app.errors_zh import translate_error
from dash_app.words_zh import WORDS

LANGUAGES = ("en", "zh")

_ZH: dict[str, str] = {
    "Overview": "概览",
    "Conversations": "对话",
    "Knowledge": "知识库",
    "Records": "记录",
    "Accuracy": "准确率",
    "Satisfaction": "满意度",
    "Knowledge gaps": "知识缺口",
    "Export": "导出",
    "Status": "运行状态",
    "Settings": "设置",
    "Sign out": "退出",
    "Agent inbox": "客服工作台",
    "Open the agent inbox": "打开客服工作台",
    "You are signed in as an agent: you answer customers in the agent inbox, which updates live.":
        "您以客服身份登录：请在客服工作台中回复客户，页面会实时更新。",
    "name customers see (agents)": "客户看到的名字（客服）",
    "Sign in": "登录",
    "Email": "邮箱",
    "Password": "密码",
    "Period": "时间段",
    "Conversations_kpi": "对话数",
    "Messages": "消息数",
    "Visitors": "访客数",
    "Avg daily visitors": "日均访客",
    "Weekly visitors": "周访客",
    "Answer rate": "回答率",
    "Thumbs-up rate": "点赞率",
    "CSAT": "满意度评分",
    "Hand-off rate": "转人工率",
    "Resolution rate": "解决率",
    "Latency p50": "延迟 p50",
    "Latency p95": "延迟 p95",
    "Tokens": "令牌数",
    "Estimated cost": "估算成本",
    "Search": "搜索",
    "Rating": "评价",
    "Any": "全部",
    "Handed off": "已转人工",
    "Unanswered": "未回答",
    "Upload": "上传",
    "Delete": "删除",
    "Run again": "重新处理",
    "Queued again: {names}.": "已重新排队：{names}。",
    "Select a failed or stuck document first.": "请先选择一个失败或卡住的文档。",
    "Save": "保存",
    "Add": "添加",
    "Question": "问题",
    "Answer": "答案",
    "Try a question": "试问一个问题",
    "New conversation": "新对话",
    "New conversation started.": "已开始新的对话。",
    "After {n} earlier questions in this conversation.": "这是本次对话中前 {n} 个问题之后的回答。",
    "Sources: ": "来源：",
    "Answer: ": "回答：",
    "Did you mean: ": "您是想问：",
    "Ask": "提问",
    "Documents": "文档",
    "Manual FAQ entries": "手动 FAQ 条目",
    "Retrain now": "立即重新训练",
    "Add FAQ entry": "添加 FAQ 条目",
    "Download": "下载",
    "Dataset": "数据集",
    "Format": "格式",
    "No data for this period yet.": "该时间段暂无数据。",
    "Only admins can change this.": "只有管理员可以修改。",
    "Bot": "机器人",
    "Widget": "小部件",
    "API keys": "API 密钥",
    "Users": "用户",
    "HTTP tools": "HTTP 工具",
    "Live accuracy": "实时准确率",
    "Evaluation runs": "评测记录",
    "Model": "模型",
    "Labelled conversations": "已标注对话",
    "Cross-validated AUC": "交叉验证 AUC",
    "Trained": "训练时间",
    "Satisfaction_kpi": "满意度",
    "Services": "服务",
    "Queues": "队列",
    "Ingestion backlog": "待处理文档",
    "This tenant's traffic": "本租户流量",
    "Documents queued": "排队中的文档",
    "Documents processing": "处理中的文档",
    "Documents failed": "失败的文档",
    "Error rate": "错误率",
    "Fallback rate": "兜底回复率",
    "Reply latency p50": "回复延迟 p50",
    "Reply latency p95": "回复延迟 p95",
    "Transcript": "对话记录",
    "Website sources": "网站来源",
    "Website address": "网站地址",
    "Max pages": "最多页面数",
    "Re-sync": "自动同步",
    "Off": "关闭",
    "Daily": "每天",
    "Weekly": "每周",
    "Only URLs like": "只包含网址",
    "Never URLs like": "排除网址",
    "Add website": "添加网站",
    "Sync now": "立即同步",
    "Pages of the selected website": "所选网站的页面",
    "A website is crawled (sitemap, or links from the start page), one document per page; re-syncs embed only "
    "pages that changed and remove pages gone from the site.":
        "网站会被抓取（按站点地图，或从起始页沿链接），每个页面成为一篇文档；重新同步时只重新嵌入有变化的页面，"
        "并删除网站上已不存在的页面。",
    "Added; the crawl has started and its pages appear below as they are done.":
        "已添加，抓取已开始，页面完成后会显示在下方。",
    "Sync queued; changed pages are re-indexed, unchanged ones cost only a fetch.":
        "已排队同步：有变化的页面会重新索引，未变化的页面只需一次请求。",
    "Deleted the website and its pages' documents.": "已删除该网站及其页面文档。",
    "Office hours": "营业时间",
    "Webhooks": "Webhook 推送",
    "Human service": "人工服务",
    "Hand-offs": "转人工次数",
    "First human response p50": "首次人工回复 p50",
    "First human response p90": "首次人工回复 p90",
    "Time to resolve p50": "解决用时 p50",
    "Resolved by a person": "人工解决数",
    "Answered by a person": "人工已回复数",
    "Per agent": "按客服",
    "Per day": "按天",
    "Agent": "客服",
    "Day": "日期",
    "Outside office hours, or when no agent has the inbox open, the chat says that no one can answer "
    "right now and asks the customer for an email or phone number; replies written later are emailed "
    "to them.":
        "在营业时间以外，或没有客服打开工作台时，聊天窗口会如实告诉客户现在无人值守，并请客户留下邮箱或电话；"
        "之后写的回复会通过邮件发给客户。",
    "(unassigned)": "（未分配）",
    "Use office hours": "启用营业时间",
    "Time zone": "时区",
    "Hours per day, like 09:00-12:00, 13:00-18:00 (empty = closed all day).":
        "每天的营业时段，例如 09:00-12:00, 13:00-18:00（留空 = 全天休息）。",
    "Email staff about each new hand-off": "每次有新的转人工请求时邮件通知员工",
    "Open now": "当前在营业时间内",
    "Closed now": "当前不在营业时间内",
    "closed": "休息",
    "Monday": "星期一",
    "Tuesday": "星期二",
    "Wednesday": "星期三",
    "Thursday": "星期四",
    "Friday": "星期五",
    "Saturday": "星期六",
    "Sunday": "星期日",
    "Saved.": "已保存。",
    "Deleted.": "已删除。",
    "Kefu POSTs each event as JSON, signed in X-Kefu-Signature (HMAC-SHA256 of the body with the "
    "webhook's secret); failed deliveries are retried, then marked failed.":
        "客服系统会把每个事件以 JSON 格式 POST 给接收地址，并在 X-Kefu-Signature 中签名（用该 Webhook 的密钥对请求体做 "
        "HMAC-SHA256）；推送失败会自动重试，多次失败后标记为失败。",
    "Receiver URL": "接收地址",
    "Add webhook": "添加 Webhook",
    "Delete selected": "删除所选",
    "Deliveries of the selected webhook": "所选 Webhook 的推送记录",
    "Select a webhook first.": "请先选择一个 Webhook。",
    "Added. Copy the signing secret now; it is not shown again:": "已添加。请立即复制签名密钥，它不会再次显示：",
    "pending": "等待中",
    "sending": "发送中",
    "delivered": "已送达",
    "failed": "失败",
    # Similar questions and FAQ row curation (issue 18).
    "Similar questions (one per line)": "相似问法（每行一个）",
    "similar questions": "相似问法",
    "Other ways customers ask this, e.g. “can I pay on delivery”": "顾客的其他问法，例如“能不能货到付款”",
    "Entries typed here are indexed like an uploaded FAQ; pick a row to edit it. "
    "Similar questions are matched like the question itself.":
        "这里输入的条目和上传的 FAQ 一样被索引；选择一行即可编辑。相似问法和问题本身一样参与匹配。",
    "Save similar questions": "保存相似问法",
    "Saved similar questions": "已保存相似问法",
    "The uploaded file changed since this edit; it now says:": "此次修改后上传的文件有变化，现在的内容是：",
    # Confidence threshold from evaluation runs (issue 18).
    "Select a finished run: it shows how many answers are right and how many questions get "
    "answered at each threshold, and which threshold reaches your target precision. "
    "Without labelled questions the default threshold stays.":
        "选择一次已完成的评测：显示每个阈值下回答的准确率和覆盖率，以及达到目标准确率的阈值。"
        "没有标注问题时继续使用默认阈值。",
    "Target precision": "目标准确率",
    "Precision": "准确率",
    "Coverage": "覆盖率",
    "Answered right": "回答正确",
    "now": "当前",
    "recommended": "建议",
    "Precision and coverage by confidence threshold": "各置信度阈值下的准确率与覆盖率",
    "Now ({threshold}): precision {precision}, coverage {coverage}.":
        "当前（{threshold}）：准确率 {precision}，覆盖率 {coverage}。",
    "Apply threshold": "应用阈值",
    "Select a finished run above.": "请在上方选择一次已完成的评测。",
    "Applied: the bot now answers from confidence": "已应用：机器人现在从以下置信度开始回答",
    # Similar questions suggested from traffic (issue 18).
    "Suggested similar questions": "建议的相似问法",
    "Customers' own wordings the bot missed, with the FAQ row they belong to. Adding one makes the "
    "row answer that wording too.": "机器人没答好的顾客原话，以及它们对应的 FAQ 行。添加后，这一行也会回答这种问法。",
    "Find suggestions": "查找建议",
    "Add as similar question": "添加为相似问法",
    "Dismiss": "忽略",
    "for row": "对应行",
    "unanswered or rated down": "未回答或差评",
    "chosen “did you mean”": "选择了“您是不是想问”",
    "answered by an agent": "由人工客服回答",
    "No suggestions right now: they appear as customers ask in their own words.":
        "暂无建议：顾客用自己的话提问后会出现在这里。",
    "Added to row {row}; answers use it in a moment.": "已添加到第 {row} 行，稍后回答即会使用。",
    "Dismissed; it will not be suggested for this row again.": "已忽略，不会再为这一行建议。",
    "Which model writes the answers. Keys are stored encrypted and never shown again.":
        "由哪个模型撰写回答。密钥加密保存，保存后不再显示。",
    "Provider": "提供方",
    "Automatic (the operator's default model)": "自动（运营方的默认模型）",
    "Local responder (no model)": "本地应答（不用模型）",
    "OpenAI-compatible (OpenAI, Azure, DeepSeek, Qwen, Ollama, vLLM)":
        "OpenAI 兼容（OpenAI、Azure、DeepSeek、通义千问、Ollama、vLLM）",
    "Anthropic Claude": "Anthropic Claude",
    "Google Gemini": "Google Gemini",
    "None": "无",
    "Base URL (empty: the vendor's own)": "接口地址（留空：使用厂商默认地址）",
    "API key": "API 密钥",
    "A key is saved; type a new one to replace it": "已保存密钥；输入新密钥即可替换",
    "No key saved": "未保存密钥",
    "Fallback when the model fails": "模型失败时的备用模型",
    "Fallback provider": "备用提供方",
    "Fallback model": "备用模型",
    "Fallback base URL": "备用接口地址",
    "Fallback API key": "备用 API 密钥",
    "Remove the saved API key": "删除已保存的 API 密钥",
    "Remove the saved fallback key": "删除已保存的备用密钥",
    "Sentences the knowledge does not support": "知识库不支持的句子",
    "Flag unsupported sentences only": "仅标记无依据的句子",
    "Drop unsupported sentences": "删除无依据的句子",
    "Answer from the knowledge instead": "改用知识库中的答案",
    "Test connection": "测试连接",
    "Test fallback": "测试备用模型",
    "Connected": "连接成功",
    "reply": "回复",
    "Connection failed": "连接失败",
    "No model is configured here: the local responder answers, nothing to connect to.":
        "此处未配置模型：由本地应答回答，无需连接。",
    "Saved. New answers use this model.": "已保存。新的回答将使用此模型。",
    "Start from a template": "从模板开始",
    "created at": "时间",
    "question": "问题",
    "action": "操作",
    "draft": "模型原稿",
    "unsupported": "无依据的句子",
    "Functions the bot may call on your own systems (public HTTPS endpoints; secrets are never shown).":
        "机器人可以调用的您自己系统的功能（公开的 HTTPS 接口；密钥永不显示）。",
    "Add tool": "添加工具",
    "Done.": "完成。",
    "Grounded answers": "有依据的回答",
    "Each sentence a model writes is checked against the passages and tool results it was given; unsupported "
    "sentences are flagged, dropped or replaced as set in Settings → Model.":
        "模型写的每一句话都会与它获得的知识段落和工具结果核对；无依据的句子按“设置 → 模型”中的选择被标记、删除或替换。",
    "No model-written answers in this period yet.": "此期间还没有模型撰写的回答。",
    "Grounded": "有依据",
    "Flagged": "已标记",
    "Grounded rate": "有依据率",
    "Model answers supported by the knowledge": "有知识库依据的模型回答",
    "Flagged answers": "被标记的回答",
    "No flagged answers in this period.": "此期间没有被标记的回答。",
    "Choose a template…": "选择模板…",
    "Replace shop.example.com with your own endpoint (and the example token with yours) before adding.":
        "添加前请把 shop.example.com 换成您自己的接口地址（并把示例令牌换成您的令牌）。",
    "Ready to add as it is; edit anything you like first.": "可直接添加；也可以先按需修改。",
}


def language() -> str:
    """The browser's language: the one it chose with the switch, else its own (English outside a request)."""
    if not flask.has_request_context():
        return "en"
    return chosen_language() or browser_language()


def t(text: str) -> str:
    """`text` in the current language; keys ending in `_kpi` disambiguate words used twice."""
    if language() == "zh":
        return _ZH.get(text) or WORDS.get(text) or text.removesuffix("_kpi")
    return text.removesuffix("_kpi")


def error_text(message: str) -> str:
    """A domain error message (KefuError.detail, a document's stored error) in the current language.

    The domain writes English (the API keeps it); in Chinese mode the message is looked up in the
    admin app's words, then in the message catalog of `dash_app.errors_zh` with its values kept.
    """
    if language() != "zh" or not message:
        return message
    return _ZH.get(message) or WORDS.get(message) or translate_error(message) or message


# --- Language choice, the words of every page, and translating a layout (issue 22) -------------------------
# The choice lives in its own long-lived cookie, set only by /lang/<code>. Keeping it out of the session
# cookie is the fix for "switching language does not stick": Flask re-sent the session cookie on every
# Dash callback (SESSION_REFRESH_EACH_REQUEST), so a callback that started before the switch answered
# with the old session and put the old language back.
LANG_COOKIE = "kefu_lang"


def chosen_language() -> str | None:
    """The language this browser chose with the switch, if any."""
    chosen = flask.request.cookies.get(LANG_COOKIE) or flask.session.get("lang")
    return chosen if chosen in LANGUAGES else None


def browser_language() -> str:
    """The browser's preferred language among ours (Accept-Language), English when it prefers neither."""
    return flask.request.accept_languages.best_match(LANGUAGES) or "en"


def translate_tree(node: Any) -> Any:
    """A page layout with its fixed English words (text, labels, placeholders, titles, options) translated.

    Pages are written in English; the router passes each layout through here, so a word needs only an
    entry in the dictionary. Elements with the class `user-text` hold the tenant's own data and are left
    as they are, as are table data.
    """
    if language() == "en":
        return node
    return _translate(node)


def _translate(node: Any) -> Any:
    if isinstance(node, str):
        return t(node)
    if isinstance(node, list | tuple):
        return [_translate(child) for child in node]
    props = getattr(node, "__dict__", None)
    if props is None or "user-text" in str(props.get("className") or "").split():
        return node
    if type(node).__name__ in ("Code", "Pre"):  # code (a column name, a tag) is the same in every language
        return node
    for name in ("placeholder", "title", "label"):
        if isinstance(props.get(name), str):
            setattr(node, name, t(props[name]))
    options = props.get("options")
    if isinstance(options, list):
        node.options = [{**o, "label": t(o["label"])} if isinstance(o, dict) and isinstance(o.get("label"), str)
                        else o for o in options]
    if "children" in props and props["children"] is not None:
        node.children = _translate(props["children"])
    return node
