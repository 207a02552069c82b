"""The one error handler: JSON `{"ok": false, "error", "status", "message"}` under /api/ (`error` in
English for the integrator, `message` in Chinese for the person), an HTML page elsewhere."""

from __future__ import annotations

import re
from typing import NoReturn

from flask import Flask, abort, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

# Short API messages for errors raised without a description of our own.
_API_MESSAGES = {
    400: "bad request",
    401: "an API token is required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    415: "unsupported media type",
    422: "unprocessable request",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}
_PAGE_TITLES = {
    400: "请求有误",
    401: "需要登录",
    403: "没有访问权限",
    404: "页面不存在",
    405: "请求方式不支持",
    409: "请求冲突",
    413: "提交的内容太大",
    415: "提交的内容格式不支持",
    422: "请求无法处理",
    429: "操作太频繁",
    500: "服务暂时不可用",
    503: "服务暂时不可用",
}
_PAGE_HINTS = {
    400: "提交的内容无法处理，请返回上一页检查后重试。",
    403: "您的账号没有访问这个页面的权限。",
    404: "您访问的页面不存在，可能链接有误或文章已下线。",
    413: "提交的内容超过了大小限制，请精简后再提交。",
    429: "您的操作太频繁了，请稍等片刻再试。",
}


_API_CHINESE = {
    400: "请求有误，请检查后重试",
    401: "需要有效的 API 令牌",
    403: "没有访问权限",
    404: "找不到请求的内容",
    405: "不支持这种请求方式",
    409: "请求冲突，请稍后重试",
    413: "提交的内容超过了大小限制",
    415: "提交的内容格式不支持",
    422: "请求无法处理",
    429: "请求太频繁，请稍后再试",
    500: "服务暂时不可用",
    503: "服务暂时不可用",
}


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def person_message(error: Exception, fallback: str = "请检查填写的内容。") -> str:
    """The Chinese message a refused operation carries for a person (its `message`), or `fallback`
    when it has none: a page never shows the English kept for the API and the logs."""
    message = getattr(error, "message", None)
    return message if isinstance(message, str) and _CHINESE.search(message) else fallback


def refuse(status: int, error: str, message: str) -> NoReturn:
    """Abort with an HTTP error: `error` in English (the API's), `message` in Chinese for people."""
    try:
        abort(status, description=error)
    except HTTPException as e:
        e.message = message
        raise


def _api_message(error: HTTPException) -> str:
    code = error.code or 500
    if error.description and error.description != type(error).description:
        if code == 429:
            return f"rate limit exceeded: {error.description}"
        return error.description
    if code == 413:
        limit = request.max_content_length
        return f"request body larger than {limit} bytes" if limit else _API_MESSAGES[413]
    return _API_MESSAGES.get(code, (error.name or "error").lower())


def handle_http_error(error: HTTPException):
    """Render any HTTP error (and any unhandled exception, as a 500) for the audience that asked."""
    code = error.code or 500
    if request.path.startswith("/api/"):
        message = getattr(error, "message", None) or _API_CHINESE.get(code, _PAGE_TITLES.get(code, "出错了"))
        response = jsonify({"ok": False, "error": _api_message(error), "status": code, "message": message})
        response.status_code = code
        if code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="posdesk"'
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response
    hint = getattr(error, "message", None) or _PAGE_HINTS.get(code, "")
    if isinstance(error, CSRFError):
        hint = "页面已过期，请刷新页面后重新提交。"
    page = render_template("error.html", code=code, title=_PAGE_TITLES.get(code, "出错了"), hint=hint)
    return page, code


def init_app(app: Flask) -> None:
    """Register the handler for every HTTP error; Flask turns unexpected exceptions into a 500 for it."""
    app.register_error_handler(HTTPException, handle_http_error)
