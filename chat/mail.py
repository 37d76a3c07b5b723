"""Sending one email over SMTP (`KEFU_SMTP_URL`), and the texts Kefu sends, in English and Chinese."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from core.settings import get_settings


class MailNotConfigured(Exception):
    """KEFU_SMTP_URL is not set (or not an smtp:// / smtps:// URL)."""


def send(recipient: str, subject: str, body: str) -> None:
    """Send a plain-text email; raises on any SMTP or connection error (the caller retries)."""
    settings = get_settings()
    if not settings.smtp_url:
        raise MailNotConfigured("KEFU_SMTP_URL is not set")
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise MailNotConfigured("KEFU_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, recipient, subject
    message.set_content(body)
    implicit_tls = url.scheme == "smtps"
    port = url.port or (465 if implicit_tls else 25)
    timeout = settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(url.hostname, port, timeout=timeout, context=context)
        if implicit_tls
        else smtplib.SMTP(url.hostname, port, timeout=timeout)
    )
    with client:
        client.ehlo()
        wants_starttls = parse_qs(url.query).get("starttls", ["auto"])[0].lower()
        if not implicit_tls and wants_starttls != "false" and (wants_starttls == "true" or client.has_extn("starttls")):
            client.starttls(context=context)
            client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)


def handoff_email(reason: str, question: str | None, conversation_id: str, admin_url: str) -> tuple[str, str]:
    """Subject and body of the staff notice for a new hand-off (both languages: staff read either)."""
    subject = "A customer is waiting for a person · 有客户在等待人工客服"
    quoted = f"\n\n“{question[:500]}”" if question else ""
    body = (
        f"A customer asked to talk to a person ({reason}).{quoted}\n\n"
        f"Conversation {conversation_id}: {admin_url}\n\n"
        f"有客户请求人工客服（{reason}）。{quoted}\n\n对话 {conversation_id}：{admin_url}\n"
    )
    return subject, body


def agent_reply_email(language: str | None, agent_name: str | None, text: str) -> tuple[str, str]:
    """Subject and body of an agent's reply sent to a customer who left an address and is away."""
    who = agent_name or ("我们的客服" if language == "zh" else "our team")
    if language == "zh":
        return (
            "您的咨询有了回复",
            f"您好，\n\n{who}回复了您的咨询：\n\n{text}\n\n回到网站上的对话窗口即可继续交流。\n",
        )
    return (
        "A reply to your question",
        f"Hello,\n\n{who} replied to your question:\n\n{text}\n\n"
        "You can continue the conversation in the chat on our website.\n",
    )
