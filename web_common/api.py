"""flask-smorest glue: our error envelope in the OpenAPI documents, and a
blueprint that documents every refusal an endpoint can give."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict, defaultdict
from functools import wraps

import flask
import flask_smorest
from flask import g, request
from marshmallow import RAISE, Schema, fields
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request

from estate_platform.errors import DomainError
from estate_platform.security import TokenExpired, TokenInvalid, TokenMissing, TokenRevoked

from .inputs import (GuardedSchema, Int32Converter, assert_guarded, int32_param_schema, parse_json_body,
                     strip_control_characters)
from .messages import install_chinese_messages

install_chinese_messages()

AUTH_ERRORS = (TokenMissing, TokenInvalid, TokenExpired, TokenRevoked)


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "稳定的错误码，客户端据此分支"})
    message = fields.String(required=True, metadata={"description": "给人看的中文说明"})
    details = fields.Dict(metadata={"description": "附加信息；校验错误时 fields 列出每个字段的错误"})
    request_id = fields.String(metadata={"description": "本次请求的编号（响应头 X-Request-ID 同值），反馈问题时请提供"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class InputSchema(GuardedSchema):
    """Request bodies: unknown fields are refused, so typos don't pass silently; integer
    ranges and control characters are checked field by field (web_common.inputs)."""
    class Meta:
        unknown = RAISE


class QuerySchema(GuardedSchema):
    """Query strings: unknown parameters are refused too (``?stauts=`` must not list everything)."""
    class Meta:
        unknown = RAISE


class PlatformParser(FlaskParser):
    """webargs ignores unknown query parameters whatever the schema says: let the schema decide."""
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}

    def _raw_load_json(self, req):
        """The request guard (web_common.inputs) already parsed the body strictly, once."""
        if not is_json_request(req):
            return webargs_core.missing
        if "json_body" in g:
            return g.json_body
        return parse_json_body(req.get_data(cache=True))


class PlatformApi(flask_smorest.Api):
    """flask-smorest's Api, with the OpenAPI document built when it is first read.

    Registering a blueprint's views in the document (deep copies of every operation's docs,
    apispec's path building) was most of ``create_app``'s time; an app that never serves its
    document (a worker, a CLI command, most tests) now never pays it. The routes themselves
    are registered at once, as before; the document is complete on its first read and built
    once (under a lock: the first reads may come from several threads).
    """
    ERROR_SCHEMA = ErrorSchema

    # The served documents (``openapi.json``) by what they are made of, for every app of the
    # process: tests build an app each, and about a thousand of them read a document
    # (0.2–0.4 s of CPU to build the admin one). See ``_document_key``.
    _documents: OrderedDict[tuple, str] = OrderedDict()
    _documents_lock = threading.Lock()
    _documents_kept = 16

    @property
    def spec(self):
        pending = self.__dict__.get("_pending_docs")
        if pending:
            with self.__dict__["_docs_lock"]:
                while self.__dict__["_pending_docs"]:
                    blp, name, parameters = self.__dict__["_pending_docs"].pop(0)
                    blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        """As flask-smorest's, with the blueprint's documentation left for the first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self.__dict__.setdefault("_docs_lock", threading.RLock())
        self.__dict__.setdefault("_pending_docs", []).append((blp, name, parameters))

    def _document_key(self) -> tuple:
        """Everything the served document is made of: the spec as built before any blueprint
        is documented (title, version, options, servers, security schemes: every
        non-lazy component), the API's own settings, the registered custom fields and
        converters, each pending blueprint (the object, its name and parameters, the
        endpoints it documents) with the app's rules for its endpoints (path, methods), and
        the app's JSON settings. Two apps that agree on all of it serve the same bytes; a
        test that changes a setting or a route gets a document of its own."""
        app = self._app
        own = tuple(f"{self.config_prefix}{name}" for name in ("API_", "OPENAPI_", "ETAG_"))
        settings = tuple(sorted((key, repr(value)) for key, value in app.config.items() if key.startswith(own)))
        blueprints = []
        for blp, name, parameters in self.__dict__.get("_pending_docs", ()):
            rules = tuple(sorted((rule.endpoint, rule.rule, tuple(sorted(rule.methods or ())))
                                 for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{name}.")))
            endpoints = tuple(sorted((endpoint, tuple(sorted(map(str, docs))))
                                     for endpoint, docs in blp._docs.items()))
            blueprints.append((blp, name, repr(parameters), endpoints, rules))
        provider = app.json
        json_settings = (type(provider), getattr(provider, "ensure_ascii", None), getattr(provider, "sort_keys", None),
                         getattr(provider, "compact", None))
        before = json.dumps(self._spec.to_dict(), sort_keys=True, default=repr)
        return (type(self), self.config_prefix, before, settings, repr(self._fields), repr(self._converters),
                tuple(blueprints), json_settings)

    def _openapi_json(self):
        """Serve the JSON document, built once per distinct key in the process (the first
        read builds it as flask-smorest does, byte for byte) and kept by the app: its routes
        cannot change once it serves requests."""
        served = self.__dict__.get("_served_document")
        if served is None:
            served = self.__dict__["_served_document"] = self._document()
        return flask.current_app.response_class(served, mimetype="application/json")

    def _document(self) -> str:
        if not self.__dict__.get("_pending_docs"):
            # Already built (something read ``spec``): its key would be the whole document.
            return flask.json.dumps(self.spec.to_dict(), indent=2, sort_keys=False)
        key = self._document_key()
        with PlatformApi._documents_lock:
            document = PlatformApi._documents.get(key)
            if document is None:
                document = flask.json.dumps(self.spec.to_dict(), indent=2, sort_keys=False)
                PlatformApi._documents[key] = document
                while len(PlatformApi._documents) > PlatformApi._documents_kept:
                    PlatformApi._documents.popitem(last=False)
            else:
                PlatformApi._documents.move_to_end(key)
        return document

    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        self.register_converter(Int32Converter, int32_param_schema)

    def _register_error_handlers(self):
        """The composition root installs one handler for every layer (web_common.errors)."""

    def add_bearer_scheme(self):
        self.spec.components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "description": "登录接口返回的 token"})


# What the request guard (web_common.inputs.check_request) and the URL converters can answer
# before any handler runs, whatever the operation: documented on every operation that does
# not document the status itself, so that every status a client can get is in the document.
GUARD_REFUSALS = {
    400: "`malformed_json`: 请求体不是有效的 JSON",
    404: "`not_found`: 路径中的 id 不是有效的编号，或对应的资源不存在",
    422: "`validation_error`: 路径、查询参数或请求体包含控制字符，details.fields 指出位置",
}


class PlatformBlueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = PlatformParser()

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **kwargs):
        self._rule_being_added = rule
        return super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **kwargs)

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):
        """Add the guard's refusals to each operation's documented responses: 404 only where
        the path has a parameter (a malformed or out-of-range id matches no route)."""
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        takes_path_parameters = "<" in getattr(self, "_rule_being_added", "")
        for method, doc in self._docs[endpoint].items():
            if method == "parameters":
                continue
            responses = doc.setdefault("response", {}).setdefault("responses", {})
            documented = {str(status) for status in responses}
            for status, description in GUARD_REFUSALS.items():
                if str(status) in documented or (status == 404 and not takes_path_parameters):
                    continue
                responses[status] = [{"schema": self._make_doc_response_schema(ErrorSchema()),
                                      "description": description, "content_type": None}]

    def arguments(self, schema, *, location="json", **kwargs):
        """Every JSON body can also be refused as malformed (400 malformed_json): document it."""
        assert_guarded(schema)
        decorator = super().arguments(schema, location=location, **kwargs)
        if location not in ("json", "json_or_form"):
            return decorator
        document_400 = self.alt_response(400, schema=ErrorSchema, description="`malformed_json`: 请求体不是有效的 JSON")
        return lambda func: document_400(decorator(func))

    def refuses(self, *errors: type[DomainError] | int):
        """Document each refusal (grouped by status, with its stable codes)."""
        by_status: dict[int, list[str]] = defaultdict(list)
        if any(e == 422 or (not isinstance(e, int) and e.status == 422) for e in errors):
            by_status[422].append("`validation_error`: 参数校验失败，details.fields 列出每个字段的错误")
        for error in errors:
            if isinstance(error, int):
                by_status[error]
            else:
                by_status[error.status].append(f"`{error.code}`: {error.message}")

        def decorator(func):
            for status, lines in sorted(by_status.items()):
                description = "；".join(dict.fromkeys(lines)) if lines else None
                func = self.alt_response(status, schema=ErrorSchema, description=description or
                                         {400: "请求格式有误", 401: "未登录", 403: "无权访问",
                                          404: "资源不存在", 409: "冲突", 422: "参数校验失败",
                                          429: "请求过于频繁"}.get(status, "错误"))(func)
            return func
        return decorator

    def authenticated(self, resolver, *extra_errors):
        """Require a bearer token: ``resolver(token)`` raises 401 or sets the caller on ``g``."""
        def decorator(func):
            @wraps(func)
            def wrapper(*args, **kwargs):
                resolver(bearer_token())
                return func(*args, **kwargs)
            wrapper = self.refuses(*AUTH_ERRORS, *extra_errors)(wrapper)
            return self.doc(security=[{"bearerAuth": []}])(wrapper)
        return decorator


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing()
    return token.strip()


def client_ip() -> str:
    return request.remote_addr or "0.0.0.0"


def user_agent() -> str:
    """The User-Agent as stored with signatures and opens: control characters dropped
    (a header is no schema field, and PostgreSQL refuses NUL in text)."""
    return strip_control_characters(request.headers.get("User-Agent", ""))[:500]
