"""What a customer's message is, besides a question: small talk, a request for a human, a record key, a follow-up.

Shared by the engine (which never gates these on retrieval) and the local responder (which answers
them without a model).
"""

from __future__ import annotations

import re

GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|你好|您好|嗨|哈喽|在吗)[\s!！.。?？,，]*$",
                      re.IGNORECASE)
THANKS = re.compile(r"^\s*(thanks|thank you|thx|ok thanks|谢谢|多谢|感谢|谢了)[\s\w!！.。,，]*$", re.IGNORECASE)
HUMAN = re.compile(r"\b(human|agent|real person|representative|operator|talk to (a )?person|manager|supervisor)\b"
                   r"|人工|真人|转人工|客服人员|经理|投诉", re.IGNORECASE)
RECORD_KEY = re.compile(r"(?:#|no\.?|number|编号|单号|号码|号)?\s*([A-Za-z]{0,4}-?\d{4,})")
# Messages that only make sense with the previous question. ("吗" only marks a yes/no question,
# "能开发票吗" stands alone; "呢" asks "and what about …".) Short messages without these markers
# are tried alone first and with the previous question only if that finds nothing confident.
FOLLOW_UP = re.compile(r"^(and|also|what about|how about|but|then|so)\b|\b(it|that|this|they|those|them)\b|"
                       r"^(那|还有|另外|那么|它|这个|那个)|呢[？?]?$", re.IGNORECASE)
