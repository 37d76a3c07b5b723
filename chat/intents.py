"""Fixed patterns in a customer's message: a record key (order or booking number) and the plain
courtesies the local responder still answers when called directly.

Whether a turn is small talk, a request for a person or a question is read by `chat.dialogue`
(embedded prototype phrases), not by these patterns; `bench/eval_answers.py` uses them to skip
courtesies in its single-question set.
"""

from __future__ import annotations

import re

GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|你好|您好|嗨|哈喽|在吗)[\s!！.。?？,，]*$",
                      re.IGNORECASE)
THANKS = re.compile(r"^\s*(thanks|thank you|thx|ok thanks|谢谢|多谢|感谢|谢了)[\s\w!！.。,，]*$", re.IGNORECASE)
HUMAN = re.compile(r"\b(human|agent|real person|representative|operator|talk to (a )?person|manager|supervisor)\b"
                   r"|人工|真人|转人工|客服人员|经理|投诉", re.IGNORECASE)
RECORD_KEY = re.compile(r"(?:#|no\.?|number|编号|单号|号码|号)?\s*([A-Za-z]{0,4}-?\d{4,})")
