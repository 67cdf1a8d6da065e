"""The API's documentation page: the OpenAPI document, rendered on the server.

The portal's CSP allows only its own scripts and no CDN, and no third-party assets are
committed, so ninja's Swagger page (a CDN bundle, or its static files with an inline
start-up script) is not used. This page lists each operation (method, path, summary,
parameters, who may call it, responses) and each schema's fields from the same document
``/api/v1/openapi.json`` serves, in the site's own template: readable without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase

_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/"


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str
    required: bool
    type: str
    description: str


@dataclass(frozen=True)
class Response:
    status: str
    description: str
    type: str
    anchor: str  # the schema's anchor on the page, or ""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    anchor: str
    auth: list[str]
    parameters: list[Parameter]
    body: str  # the request body's type, or ""
    body_anchor: str
    body_fields: list[Field]  # an inline body schema's fields
    responses: list[Response]


@dataclass(frozen=True)
class SchemaDoc:
    name: str
    anchor: str
    description: str
    fields: list[Field] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words: ``ServiceRow``, ``list of string``, ``integer or null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(_REF)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_of(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return "object"
    words = str(kind)
    if "format" in schema:
        words += f" ({schema['format']})"
    if "enum" in schema:
        words += ": " + ", ".join(str(v) for v in schema["enum"])
    return words


def _anchor(type_name: str) -> str:
    return f"schema-{type_name}" if type_name.isidentifier() else ""


def _content_schema(content: dict[str, Any]) -> dict[str, Any]:
    for media in content.values():
        return dict(media.get("schema", {}))
    return {}


def _content_type(content: dict[str, Any]) -> str:
    return type_of(_content_schema(content)) if content else ""


def fields_of(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", []))
    return [
        Field(
            name=prop,
            type=type_of(spec),
            required=prop in required,
            description=str(spec.get("description", "")),
        )
        for prop, spec in schema.get("properties", {}).items()
    ]


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body_content = op.get("requestBody", {}).get("content", {})
            body_schema = _content_schema(body_content)
            body = str(body_schema.get("title", "")) or _content_type(body_content)
            responses = [
                Response(
                    status=str(status),
                    description=str(answer.get("description", "")),
                    type=(kind := _content_type(answer.get("content", {}))),
                    anchor=_anchor(kind),
                )
                for status, answer in sorted(op.get("responses", {}).items())
            ]
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=str(op.get("summary", "")),
                    description=str(op.get("description", "")),
                    anchor=f"op-{op.get('operationId', method + path)}",
                    auth=[name for need in op.get("security", []) for name in need],
                    parameters=[
                        Parameter(
                            name=str(p["name"]),
                            where=str(p.get("in", "")),
                            required=bool(p.get("required")),
                            type=type_of(p.get("schema", {})),
                            description=str(p.get("description", "")),
                        )
                        for p in op.get("parameters", [])
                    ],
                    body=body,
                    body_anchor=_anchor(body) if "$ref" in body_schema else "",
                    body_fields=fields_of(body_schema),
                    responses=responses,
                )
            )
    return found


def schemas(document: dict[str, Any]) -> list[SchemaDoc]:
    return [
        SchemaDoc(
            name=name,
            anchor=_anchor(name),
            description=str(schema.get("description", "")),
            fields=fields_of(schema),
        )
        for name, schema in sorted(document.get("components", {}).get("schemas", {}).items())
    ]


class ServerDocs(DocsBase):
    """ninja's docs hook, rendering ``templates/api/docs.html``."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        document = dict(api.get_openapi_schema(path_params=kwargs))
        security = document.get("components", {}).get("securitySchemes", {})
        return render(
            request,
            "api/docs.html",
            {
                "api": api,
                "openapi_url": reverse(f"{api.urls_namespace}:openapi-json", kwargs=kwargs),
                "operations": operations(document),
                "schemas": schemas(document),
                "security": sorted(
                    (name, str(scheme.get("description", ""))) for name, scheme in security.items()
                ),
            },
        )
