from __future__ import annotations

from typing import Any

from django import forms
from django.core import signing
from pydantic import ValidationError

from checklists.parsers import MAX_FILE_BYTES, ImportFileError, ParseResult, parse_file
from checklists.schema import ParsedChecklist
from portal.forms import MAX_POSITIVE_INT, Form

_SALT = "checklists.import-preview"
PREVIEW_MAX_AGE_SECONDS = 3600


class ChecklistUploadForm(Form):
    file = forms.FileField(
        label="Checklist file",
        help_text="Markdown (.md), plain text (.txt), YAML (.yaml) or JSON (.json), up to 1 MB. "
        "Nothing is saved until you confirm the preview.",
    )
    publish = forms.BooleanField(
        required=False, label="Publish the new version at once (otherwise it stays a draft)"
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB."
            )
        try:
            self.parsed: ParseResult = parse_file(upload.name, upload.read())
        except ImportFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload

    def signed_payload(self) -> str:
        """The parsed checklist, signed so the confirmation cannot be tampered with."""
        return signing.dumps(
            {
                "checklist": self.parsed.checklist.model_dump(mode="json"),
                "warnings": self.parsed.warnings,
                "publish": self.cleaned_data["publish"],
            },
            salt=_SALT,
            compress=True,
        )


class ChecklistConfirmForm(Form):
    payload = forms.CharField(widget=forms.HiddenInput)

    def clean_payload(self) -> dict[str, Any]:
        try:
            data = signing.loads(
                self.cleaned_data["payload"], salt=_SALT, max_age=PREVIEW_MAX_AGE_SECONDS
            )
        except signing.SignatureExpired:
            raise forms.ValidationError("The preview has expired; upload the file again.") from None
        except signing.BadSignature:
            raise forms.ValidationError(
                "The preview was altered or is not from this site; upload the file again."
            ) from None
        try:
            data["checklist"] = ParsedChecklist.model_validate(data["checklist"])
        except (ValidationError, KeyError, TypeError):
            raise forms.ValidationError("The preview could not be read; upload again.") from None
        return dict(data)


class CompareForm(Form):
    """Two version numbers of one checklist to compare."""

    old = forms.IntegerField(label="From version", min_value=1, max_value=MAX_POSITIVE_INT)
    new = forms.IntegerField(label="To version", min_value=1, max_value=MAX_POSITIVE_INT)
