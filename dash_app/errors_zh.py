"""Chinese for the domain's error messages, as the admin app shows them (the API keeps its English).

Keys are the messages exactly as the domain writes them, with `{}` where the code puts a value
(`knowledge`, `analytics`, `core` and parts of `chat` raise them); values say the same in Chinese,
with `{0}`, `{1}`… for those values in their order. `translate_error` matches a message against
the keys, so a message with a file name or a limit in it is translated with them.
`tests/unit/test_error_catalog.py` fails when a module the admin app writes through raises a message
that is not here.
"""

from __future__ import annotations

import re
from functools import cache

ERRORS_ZH: dict[str, str] = {
    # knowledge: uploads and parsing
    "The file is empty (0 bytes). Choose a file with content and upload it again.":
        "文件是空的（0 字节）。请选择有内容的文件重新上传。",
    "The file is {} MB; the limit is {} MB per file.": "文件大小为 {0} MB，每个文件上限为 {1} MB。",
    "Unsupported file type (the file name has no extension). Upload one of: {}.":
        "不支持的文件类型（文件名没有扩展名）。请上传以下类型之一：{0}。",
    "The {} is not a PDF (it does not start with %PDF).": "{0} 不是 PDF 文件（开头不是 %PDF）。",
    "The {} is not a valid {} file{}.": "{0} 不是有效的 {1} 文件{2}。",
    "The {} is not a text file: it looks like {}.": "{0} 不是文本文件：看起来是 {1}。",
    "The {} file is damaged or not {} {} file: {}.": "{0} 文件已损坏或不是 {2} 文件：{3}。",
    "The {} file decompresses to more than {} MB, which looks like a zip bomb; split it into smaller files.":
        "{0} 文件解压后超过 {1} MB，疑似压缩炸弹；请拆分成较小的文件。",
    "The {} file looks like a zip bomb: '{}' expands {} times.": "{0} 文件疑似压缩炸弹：“{1}”解压后膨胀 {2} 倍。",
    "The JSON file has no question/answer keys: {}; found: {}.": "JSON 文件没有问题/答案字段：{0}；找到的是：{1}。",
    "The JSON file has the wrong shape: {}.": "JSON 文件的结构不对：{0}。",
    "The JSON file is not valid JSON: {} at line {}, column {}.": "JSON 文件格式无效：第 {1} 行第 {2} 列，{0}。",
    "The JSON file is nested too deeply to read; {}.": "JSON 文件嵌套层级太深，无法读取；{0}。",
    "The JSON file has the wrong shape: item {} is {}, not an object; {}.":
        "JSON 文件的结构不对：第 {0} 项是 {1}，不是对象；{2}。",
    "The PDF has {} pages; the limit is {} pages per file. Split it into smaller files (or upload only the "
    "chapters customers ask about).":
        "PDF 有 {0} 页，每个文件上限为 {1} 页。请拆分成较小的文件（或只上传客户常问的章节）。",
    "The PDF is password-protected. Remove the password and upload it again.": "PDF 设有密码。请去掉密码后重新上传。",
    "The PDF is encrypted and could not be opened ({}). Remove the protection and upload it again.":
        "PDF 已加密，无法打开（{0}）。请去掉保护后重新上传。",
    "The PDF file is damaged or not a PDF file: {}.": "PDF 文件已损坏或不是 PDF 文件：{0}。",
    "The table has no question/answer columns: {}; found: {}.": "表格没有问题/答案列：{0}；找到的列：{1}。",
    "None of the {} {}s has both a question and an answer.": "{0} 行中没有一行同时有问题和答案。",
    "The file has more than {} {}s; the limit is {} {}s per document. Split it into smaller files.":
        "文件超过 {0} 行；每个文档上限为 {2} 行。请拆分成较小的文件。",
    "The file has no {}s with content below the header.": "表头下面没有有内容的行。",
    "The CSV file could not be read at line {}: {}.": "CSV 文件第 {0} 行无法读取：{1}。",
    # knowledge: documents, manual FAQ, uploaded rows, similar questions
    "Select the documents to delete first.": "请先选择要删除的文档。",
    "The similar question is empty.": "相似问法是空的。",
    "No manual FAQ entry {} in this tenant.": "没有找到手动 FAQ 条目 {0}。",
    "An FAQ {} needs both a question and an answer.": "FAQ 条目需要同时填写问题和答案。",
    "The question is {} characters; the limit is {}.": "问题有 {0} 个字符，上限为 {1}。",
    "The answer is {} characters; the limit is {}.": "答案有 {0} 个字符，上限为 {1}。",
    "The manual FAQ kept changing while saving; try again.": "保存时手动 FAQ 一直在变化，请重试。",
    "No document {} in this tenant.": "没有找到文档 {0}。",
    "This document is already indexed; upload a new version of the file to change it.":
        "该文档已建立索引；如需修改，请上传文件的新版本。",
    "A worker is indexing this document right now; if it is still processing in a minute, run it again.":
        "后台正在为该文档建立索引；如果一分钟后仍在处理，请重新处理。",
    "limit must be 1-500 and offset 0 or more.": "limit 必须在 1–500 之间，offset 不能小于 0。",
    "limit must be 1-{} and offset 0 or more.": "limit 必须在 1–{0} 之间，offset 不能小于 0。",
    "No FAQ row {} in this document.": "该文档中没有 FAQ 行 {0}。",
    "Manual FAQ entries are edited in the manual FAQ editor, not as uploaded rows.":
        "手动 FAQ 条目请在手动 FAQ 编辑器中修改，而不是作为上传的行修改。",
    "Choose the FAQ row to change (its id or row number).": "请选择要修改的 FAQ 行（它的编号或行号）。",
    "FAQ row {} has no edit to revert.": "FAQ 行 {0} 没有可撤销的修改。",
    "limit must be 1-200.": "limit 必须在 1–200 之间。",
    "Send the suggested question to dismiss (1-{} characters).": "请提供要忽略的建议问题（1–{0} 个字符）。",
    "No FAQ row {} in document {}.": "文档 {1} 中没有 FAQ 行 {0}。",
    "similar_questions must be a list of questions (or text, one per line).": "相似问法必须是问题列表（或每行一个的文本）。",
    "A similar question is {} characters; the limit is {}: {}…": "有一条相似问法有 {0} 个字符，上限为 {1}：{2}…",
    "A row can have at most {} similar questions; {} were given.": "每行最多 {0} 条相似问法；现在有 {1} 条。",
    # knowledge: evaluation runs
    "The run name is longer than 200 characters.": "运行名称超过 200 个字符。",
    "target_precision must be between 0.5 and 1 (e.g. 0.9 for 90%).": "目标精确率必须在 0.5 到 1 之间（例如 0.9 表示 90%）。",
    "No evaluation run {} in this tenant.": "没有找到评估运行 {0}。",
    "The run is {}; its thresholds are reported once it is done.": "该运行的状态是 {0}；完成后才会给出阈值。",
    "This run was scored before thresholds were reported; upload its question set again.":
        "该运行评分时还没有阈值报告；请重新上传它的问题集。",
    "threshold must be between 0 and 1.": "阈值必须在 0 到 1 之间。",
    "The question set needs a header row with a question column (question / 问题) and an expected column "
    "(expected / faq_id / 期望) holding the id of the FAQ entry that should answer.":
        "问题集需要表头行：一列问题（question / 问题），一列期望答案（expected / faq_id / 期望），填写应回答该问题的 FAQ 条目编号。",
    "The question set is {} bytes; the limit is {}.": "问题集有 {0} 字节，上限为 {1}。",
    "The question set is empty: upload a CSV with question and expected columns.":
        "问题集是空的：请上传包含问题列和期望列的 CSV。",
    "The question set has no questions below its header.": "问题集的表头下面没有问题。",
    "Row {}: the question is longer than {} characters.": "第 {0} 行：问题超过 {1} 个字符。",
    "The question set has more than {} questions; split it.": "问题集超过 {0} 个问题，请拆分。",
    "Row {} has an expected entry but no question.": "第 {0} 行有期望条目，但没有问题。",
    # knowledge: records
    "Send at least one of owner_column, sensitive_columns, public.": "请至少设置所有者列、敏感列或“任何人可查询”中的一项。",
    "The spreadsheet's first sheet is empty: put a header row and records on it.":
        "电子表格的第一个工作表是空的：请在上面放表头行和记录。",
    "The XLSX file could not be read ({}). Open it in a spreadsheet, save it again as .xlsx (or CSV) and upload that.":
        "无法读取 XLSX 文件（{0}）。请用电子表格软件打开，另存为 .xlsx（或 CSV）后再上传。",
    "The XLSX file is damaged part-way through ({}); save it again.": "XLSX 文件中途损坏（{0}）；请重新保存。",
    "{} '{}' not found; columns are: {}": "找不到{0}“{1}”；现有的列：{2}",
    # (the three values `{}` takes above, so the column's kind is Chinese too)
    "key column '{}' not found; columns are: {}": "找不到键列“{0}”；现有的列：{1}",
    "owner_column '{}' not found; columns are: {}": "找不到所有者列“{0}”；现有的列：{1}",
    "sensitive_columns '{}' not found; columns are: {}": "找不到敏感列“{0}”；现有的列：{1}",
    "Invalid collection name {}: use 1-64 characters of lower-case letters, digits, '_' or '-', not starting with '-'.":
        "集合名称 {0} 无效：请使用 1–64 个小写字母、数字、“_”或“-”，且不能以“-”开头。",
    "The file is {} bytes; the limit is {} bytes.": "文件有 {0} 字节，上限为 {1} 字节。",
    "key_column is required: name the column that identifies a record.": "必须指定键列：即用来识别一条记录的列。",
    "No rows have a value in the key column '{}'.": "没有任何一行在键列“{0}”中有值。",
    "No record collection '{}' in this tenant.": "没有名为“{0}”的记录集合。",
    "The file has no column {}, which the collection's access rules name; give owner_column and sensitive_columns "
    "again.": "文件中没有访问规则用到的列 {0}；请重新设置所有者列和敏感列。",
    "The file is not text. Upload records as a CSV or JSON file.": "文件不是文本。请以 CSV 或 JSON 文件上传记录。",
    "The CSV file has no header row.": "CSV 文件没有表头行。",
    'JSON records must be a list of objects, or an object with an "items", "data" or "records" list.':
        "JSON 记录必须是对象列表，或是包含 “items”、“data” 或 “records” 列表的对象。",
    "The JSON file has a number too large to store.": "JSON 文件中有一个数字太大，无法保存。",
    "The file has {} columns; the limit is {}.": "文件有 {0} 列，上限为 {1}。",
    "The file has more than {} rows; the limit is {}.": "文件超过 {0} 行，上限为 {1}。",
    "Row {}: the key is longer than {} characters.": "第 {0} 行：键超过 {1} 个字符。",
    "A collection with an owner column is read only by its owners; leave public unset (or false) when you give "
    "owner_column.": "设置了所有者列的集合只有所有者本人能查询；设置所有者列时不要勾选“任何人可查询”。",
    "The key column '{}' cannot be sensitive: visitors ask by it.": "键列“{0}”不能设为敏感列：访客要用它来查询。",
    "The JSON file could not be read: {} at line {}, column {}.": "无法读取 JSON 文件：第 {1} 行第 {2} 列，{0}。",
    "The JSON file could not be read: {}.": "无法读取 JSON 文件：{0}。",
    "JSON item {} is not an object; every record must be an object.": "JSON 第 {0} 项不是对象；每条记录都必须是对象。",
    "Column {}'s name is longer than {} characters.": "列 {0} 的名称超过 {1} 个字符。",
    # knowledge: website sources
    "Give the website's address as url, e.g. https://shop.example.com/help/.": "请填写网站地址，例如 https://shop.example.com/help/。",
    "The URL is longer than {} characters.": "网址超过 {0} 个字符。",
    "The URL must be an http:// or https:// address with a host name and no user name or password, e.g. "
    "https://shop.example.com/.": "网址必须以 http:// 或 https:// 开头，包含主机名，且不含用户名或密码，例如 https://shop.example.com/。",
    "{} is a private or local address; only public websites can be crawled.": "{0} 是内网或本机地址；只能抓取公开网站。",
    "schedule must be one of {}.": "同步频率必须是以下之一：{0}。",
    '{} must be a list of URL patterns such as "/help/*".': "{0} 必须是网址规则列表，例如 “/help/*”。",
    "{} may hold at most {} patterns.": "{0} 最多 {1} 条规则。",
    "{} pattern is longer than {} characters: {}…": "{0} 中有规则超过 {1} 个字符：{2}…",
    "{} must be a whole number from {} to {}.": "{0} 必须是 {1} 到 {2} 之间的整数。",
    "{} must be from {} to {} ({}).": "{0} 必须在 {1} 到 {2} 之间（{3}）。",
    "{} is already a source ({}); sync it instead of adding it again.": "{0} 已经是一个来源（{1}）；请直接同步，不要重复添加。",
    "No source {} in this tenant.": "没有找到来源 {0}。",
    "result must be one of {}.": "结果必须是以下之一：{0}。",
    "A sync of this source is running; its progress is on the source. Ask again once it ends.":
        "该来源正在同步，进度显示在来源上。请在同步结束后再试。",
    # analytics: periods and exports
    "Unknown dataset {}; choose one of: {}.": "未知的数据集 {0}；请选择：{1}。",
    "Unknown format {}; choose one of: {}.": "未知的格式 {0}；请选择：{1}。",
    "{} rows do not fit in one XLSX sheet (at most {}); export as CSV or Parquet, or choose a shorter period.":
        "{0} 行超出一个 XLSX 工作表的容量（最多 {1} 行）；请导出为 CSV 或 Parquet，或选择更短的时间段。",
    "The period ends ({}) before it starts ({}).": "时间段的结束日期（{0}）早于开始日期（{1}）。",
    "The period is {} days long; choose at most {} days.": "时间段有 {0} 天；最多可选 {1} 天。",
    "A period covers at least one day.": "时间段至少包含一天。",
    "`{}` must be a date written YYYY-MM-DD, got {}.": "日期必须写成 YYYY-MM-DD，收到的是 {1}。",
    # core: users, keys, widget keys, settings
    "{} is not a valid email address.": "{0} 不是有效的邮箱地址。",
    "The password must have at least {} characters.": "密码至少需要 {0} 个字符。",
    "role must be one of {}.": "角色必须是以下之一：{0}。",
    "The tenant name must be 1-200 characters.": "租户名称必须为 1–200 个字符。",
    "A user with email {} already exists.": "邮箱为 {0} 的用户已存在。",
    "The display name must be at most 200 characters.": "显示名称最多 200 个字符。",
    "You are {}; you cannot grant the {} role.": "您的角色是 {0}，不能授予 {1} 角色。",
    "An API key's role must be one of {}.": "API 密钥的角色必须是以下之一：{0}。",
    "No API key {} in this tenant.": "没有找到 API 密钥 {0}。",
    "retention_days must be a whole number from 1 to {}, or null to keep conversations.":
        "保留天数必须是 1 到 {0} 之间的整数，留空则一直保留对话。",
    "Not an origin: {}. Write scheme://host[:port], e.g. https://shop.example.com.":
        "不是有效的来源：{0}。请写成 scheme://host[:port]，例如 https://shop.example.com。",
    "At most {} origins per widget key.": "每个组件密钥最多 {0} 个来源。",
    "{} is not a time zone; use an IANA name such as Asia/Shanghai or Europe/Berlin.":
        "{0} 不是时区；请使用 IANA 名称，例如 Asia/Shanghai 或 Europe/Berlin。",
    "Unknown onboarding step {}.": "未知的入门步骤 {0}。",
    "{} is already a user of this tenant.": "{0} 已经是本租户的用户。",
    "No widget key {} in this tenant.": "没有找到组件密钥 {0}。",
    "No such tenant.": "没有这个租户。",
    "No such widget key in this tenant.": "没有找到该组件密钥。",
    "Unknown widget settings: {}. Known: {}.": "未知的组件设置：{0}。可用的设置：{1}。",
    "avatar must be an https:// address of an image (at most 500 characters).": "头像必须是 https:// 开头的图片地址（最多 500 个字符）。",
    "starters must be a list of questions (one per line).": "开场问题必须是问题列表（每行一个）。",
    "Give at most {} starter questions.": "最多设置 {0} 个开场问题。",
    "Each starter question must be at most {} characters.": "每个开场问题最多 {0} 个字符。",
    "color must be a hex colour like #2f6f4f.": "颜色必须是十六进制颜色，例如 #2f6f4f。",
    "position must be right or left.": "位置必须是右侧或左侧。",
    "title must be at most {} characters.": "标题最多 {0} 个字符。",
    "Unknown tenant.": "未知的租户。",
    # chat: bot settings, office hours, webhooks
    "Unknown bot settings: {}. Known: {}.": "未知的机器人设置：{0}。可用的设置：{1}。",
    "language must be one of {}.": "语言必须是以下之一：{0}。",
    "provider must be one of {}.": "模型服务必须是以下之一：{0}。",
    "fallback_provider must be one of {}.": "备用模型服务必须是以下之一：{0}。",
    "grounding_action must be one of {}.": "无依据句子的处理方式必须是以下之一：{0}。",
    "{} must be a URL of at most 500 characters.": "{0} 必须是最多 500 个字符的网址。",
    "{} must start with http:// or https:// and name a host.": "{0} 必须以 http:// 或 https:// 开头并包含主机名。",
    "{} must not contain a user name or password; use api_key.": "{0} 不能包含用户名或密码；请使用 API 密钥。",
    "persona must not be empty.": "机器人人设不能为空。",
    "voice must be true or false.": "语音输入必须是开启或关闭。",
    "answer_clear_lead must be true or false.": "“首选明确时直接回答”必须是开启或关闭。",
    "{} is not a valid URL: {}.": "{0} 不是有效的网址：{1}。",
    "{} must be a number between {} and {}.": "{0} 必须是 {1} 到 {2} 之间的数字。",
    "{} must be text of at most 4000 characters.": "{0} 必须是最多 4000 个字符的文本。",
    'hours.{} must be a list of at most {} spans like "09:00-18:00".': "{0} 的时段必须是最多 {1} 个如 “09:00-18:00” 的时间段。",
    "Unknown service settings: {}. Known: {}.": "未知的服务设置：{0}。可用的设置：{1}。",
    'hours.{}: {} is not a span like "09:00-18:00" (24-hour clock).': "{0}：{1} 不是 “09:00-18:00” 这样的时间段（24 小时制）。",
    "hours.{}: {} ends before it starts; split a span across midnight into two days.":
        "{0}：{1} 的结束时间早于开始时间；跨午夜的时段请拆成两天。",
    "{} must be true or false.": "{0} 必须是是或否。",
    "timezone {} is not an IANA time zone such as Asia/Shanghai or Europe/Berlin.":
        "时区 {0} 不是 IANA 时区，例如 Asia/Shanghai 或 Europe/Berlin。",
    'hours must map days ({}) to lists of spans like "09:00-18:00".': "营业时间必须把每天（{0}）对应到如 “09:00-18:00” 的时间段列表。",
    "url must be an http(s) URL of at most {} characters.": "网址必须是最多 {0} 个字符的 http(s) 地址。",
    "url must start with https:// (or http://) and name a host.": "网址必须以 https://（或 http://）开头并包含主机名。",
    "url must not contain a user name or password; verify deliveries by their signature.":
        "网址不能包含用户名或密码；请通过签名验证推送。",
    "url: {} resolves to a private or reserved address; webhooks may only reach public hosts.":
        "网址：{0} 解析到内网或保留地址；Webhook 只能发送到公网主机。",
    "events must be a non-empty list of: {}.": "事件必须是以下各项中的至少一项：{0}。",
    "Unknown events: {}. Known: {}.": "未知的事件：{0}。可用的事件：{1}。",
    "A tenant may have at most {} webhooks; delete one first.": "每个租户最多 {0} 个 Webhook；请先删除一个。",
    "No webhook {}.": "没有找到 Webhook {0}。",
    "limit must be from 1 to {}.": "limit 必须在 1 到 {0} 之间。",
    "url is not a valid URL: {}.": "网址无效：{0}。",
    "url: the host {} could not be resolved; check its spelling.": "网址：无法解析主机 {0}；请检查拼写。",
    # chat: HTTP tools (Settings → Tools); braces the messages show literally are doubled in the Chinese
    "Unknown field(s) {}; allowed: {}.": "未知的字段 {0}；可用的字段：{1}。",
    "name must be 1-64 letters, digits or '_', not starting with a digit.": "名称必须是 1–64 个字母、数字或“_”，且不能以数字开头。",
    "'{}' is a built-in tool name; choose another.": "“{0}”是内置工具的名称；请换一个。",
    "description is required (at most 1024 characters): the model reads it.": "必须填写说明（最多 1024 个字符）：模型会读它。",
    "method must be GET or POST.": "请求方法必须是 GET 或 POST。",
    "timeout_seconds must be between {} and {}.": "超时秒数必须在 {0} 到 {1} 之间。",
    "Give both secret_header_name and secret_header_value, or neither.": "密钥请求头的名称和值要么都填，要么都不填。",
    "A tool named '{}' already exists; delete it first to replace it.": "名为“{0}”的工具已存在；如需替换，请先删除它。",
    "No tool named '{}' in this tenant.": "没有名为“{0}”的工具。",
    'parameters must be a JSON schema object: {"type": "object", "properties": {...}}.':
        '参数必须是 JSON Schema 对象：{{"type": "object", "properties": {{...}}}}。',
    "parameters.required must list declared properties only.": "parameters.required 只能列出已声明的参数。",
    "url_template is required (at most 2000 characters).": "必须填写网址模板（最多 2000 个字符）。",
    "url_template must start with http:// or https://.": "网址模板必须以 http:// 或 https:// 开头。",
    "Placeholders are not allowed in the host or port of url_template.": "网址模板的主机名和端口中不能有占位符。",
    "url_template must not contain credentials; use the secret header instead.": "网址模板不能包含账号密码；请改用密钥请求头。",
    "url_template has an unbalanced '{' or '}'.": "网址模板中的“{{”或“}}”不成对。",
    "url_template is not a valid URL.": "网址模板不是有效的网址。",
    "secret_header_name must be a valid HTTP header name other than Host, Content-Type or other transport headers.":
        "密钥请求头名称必须是有效的 HTTP 请求头名称，且不能是 Host、Content-Type 等传输用的请求头。",
    "secret_header_value must be one line of at most 4096 characters.": "密钥请求头的值必须是一行，最多 4096 个字符。",
    "Parameter name {} must be letters, digits or '_'.": "参数名 {0} 只能包含字母、数字或“_”。",
    "Parameter '{}' needs a type: one of {}.": "参数“{0}”需要类型：以下之一：{1}。",
    "Parameter '{}': enum must be a list.": "参数“{0}”：enum 必须是列表。",
    "Placeholder {{}} in url_template is not a declared parameter.": "网址模板中的占位符 {{{0}}} 不是已声明的参数。",
    "{} is not allowed: {}{}.": "{0} 不被允许：{1}{2}。",
    # core: jobs and the database (messages passed to ServiceUnavailable by callers)
    "The database is unreachable; retry shortly.": "数据库暂时无法连接，请稍后重试。",
    "The work queue is unreachable; try again shortly.": "任务队列暂时无法连接，请稍后重试。",
    # chat: Settings → Voice questions, the speech-to-text test (chat.voice.check_connection)
    "No speech-to-text endpoint is configured: enter one here, or ask the operator to set "
    "KEFU_TRANSCRIPTION_BASE_URL.": "尚未配置语音转文字接口：请在此填写，或请运营方设置 KEFU_TRANSCRIPTION_BASE_URL。",
    "The endpoint is refused: {}.": "该接口地址被拒绝：{0}。",
    "The endpoint answered HTTP {}: {}.": "接口返回 HTTP {0}：{1}。",
    "The endpoint did not answer within {} s.": "接口在 {0} 秒内没有响应。",
    "The endpoint cannot be reached: {}.": "无法连接到该接口：{0}。",
    # knowledge: Settings → Reranker (knowledge.reranker_settings, knowledge.reranker.check_connection)
    "reranker must be true or false.": "重排序开关必须是 true 或 false。",
    "reranker_api must be one of {}.": "重排序请求格式必须是以下之一：{0}。",
    "reranker_model must be text of at most 200 characters.": "重排序模型名称必须是不超过 200 个字符的文本。",
    "reranker_confidence_centre and reranker_confidence_scale are set together (both as "
    "bench/rerank_calibration.py prints them) or both left empty.":
        "曲线中心和曲线尺度必须同时填写（按 bench/rerank_calibration.py 的输出）或同时留空。",
    "{} must be a number between {} and {} (or empty).": "{0} 必须是 {1} 到 {2} 之间的数字（或留空）。",
    "reranker_url must be a URL of at most 500 characters.": "重排序接口地址必须是不超过 500 个字符的网址。",
    "reranker_url is not a valid URL: {}.": "重排序接口地址不是有效的网址：{0}。",
    "reranker_url must start with http:// or https:// and name a host, e.g. https://rerank.example.com/rerank.":
        "重排序接口地址必须以 http:// 或 https:// 开头并包含主机名，例如 https://rerank.example.com/rerank。",
    "reranker_url must not contain a user name or password; use reranker_api_key.":
        "重排序接口地址中不能包含用户名或密码；请使用 API 密钥字段。",
    "reranker_url is not allowed: {}{}.": "重排序接口地址不被允许：{0}{1}。",
    "reranker_api_key must be the key as the vendor issued it: 1-500 printable characters without spaces "
    "(or null to remove it).": "重排序 API 密钥必须与服务商签发的一致：1-500 个不含空格的可打印字符（或留空以删除）。",
    "No reranker is configured: enter a /rerank endpoint here, or ask the operator to set KEFU_RERANK_URL.":
        "尚未配置重排序模型：请在此填写 /rerank 接口，或请运营方设置 KEFU_RERANK_URL。",
    "The endpoint's reply is not a /rerank ranking: {}.": "接口的回复不是 /rerank 排序结果：{0}。",
}


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """One anchored pattern per message, the most specific (most fixed text) first."""
    out = []
    for english, chinese in ERRORS_ZH.items():
        parts = english.split("{}")
        pattern = "(.*?)".join(re.escape(p) for p in parts)
        out.append((re.compile(f"^{pattern}$", re.DOTALL), chinese, len(english) - 2 * (len(parts) - 1)))
    out.sort(key=lambda item: -item[2])
    return [(pattern, chinese) for pattern, chinese, _ in out]


def translate_error(message: str) -> str | None:
    """The Chinese of a domain message, with its values in place; None when the catalog lacks it."""
    for pattern, chinese in _patterns():
        found = pattern.match(message)
        if found:
            return chinese.format(*found.groups())
    return None
