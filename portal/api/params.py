"""Query strings that a page's form checks, read by the API through the same form.

An operation that filters as a page does passes ``request.GET`` to that page's form, so
both accept and refuse exactly the same; ``form_parameters`` documents the form's fields
in OpenAPI (``openapi_extra``), and ``form_problems`` names what the form refused (422).
"""

from __future__ import annotations

from typing import Any

from django import forms

from portal.forms import Form


def form_parameters(form_class: type[Form], *, notes: dict[str, str] | None = None) -> list[Any]:
    """OpenAPI ``parameters`` for the fields of ``form_class``, every one optional.

    Choices known without a query are listed as an enum; choices the form loads (teams,
    checklists) are described instead. ``notes`` adds a sentence to a field's description.
    """
    notes = notes or {}
    parameters = []
    for name, field in form_class.base_fields.items():
        description = str(field.label or name.replace("_", " ").capitalize())
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(field, forms.BooleanField):
            schema["enum"] = ["true", "false"]
        elif isinstance(field, forms.ChoiceField):
            choices: Any = field.choices
            values = [str(value) for value, _ in choices if value != ""]
            if values:
                schema["enum"] = values
        if name in notes:
            description = f"{description}. {notes[name]}"
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": schema,
            }
        )
    return parameters


def form_problems(form: forms.BaseForm) -> str:
    """The form's errors as one sentence naming each field: ``team: Select a valid…``."""
    return "; ".join(
        f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items()
    )
