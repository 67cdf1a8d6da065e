"""The JSON API a service's CI pipeline pushes evidence to.

POST /api/v1/evidence with ``Authorization: Bearer <token>`` and a JSON body (see
reviews.pushed.PushedEvidence). Every refusal is a 4xx with ``{"error": "..."}``.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from reviews.pushed import MAX_PAYLOAD_BYTES, PushedEvidence, evidence_push, token_service


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # token-authenticated, no cookies: CSRF does not apply
@require_POST
def push_evidence(request: HttpRequest) -> JsonResponse:
    header = request.headers.get("Authorization", "")
    scheme, _, plain = header.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        response = _error(401, "Send the service's token as “Authorization: Bearer <token>”.")
        response["WWW-Authenticate"] = 'Bearer realm="preflight"'
        return response
    token = token_service(plain.strip())
    if token is None:
        return _error(401, "This token is unknown or revoked.")
    if request.content_type != "application/json":
        return _error(415, "Send JSON (Content-Type: application/json).")
    if len(request.body) > MAX_PAYLOAD_BYTES:
        return _error(413, f"The body is larger than {MAX_PAYLOAD_BYTES // 1024} KB.")
    try:
        data = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"The body is not valid JSON: {exc}.")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    try:
        payload = PushedEvidence.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]
        ]
        return _error(422, "; ".join(problems))
    result, created = evidence_push(service=token.service, payload=payload)
    token.last_used_at = timezone.now()
    token.save(update_fields=["last_used_at"])
    return JsonResponse(
        {
            "id": result.pk,
            "service": token.service.slug,
            "check": result.check_key,
            "result": result.result,
            "recorded_at": result.checked_at.isoformat(),
            "duplicate": not created,
        },
        status=201 if created else 200,
    )
