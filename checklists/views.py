from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from checklists import selectors, services
from checklists.forms import ChecklistConfirmForm, ChecklistUploadForm, CompareForm
from checklists.models import Checklist, ChecklistVersion, PublishedVersionError
from portal.accounts.models import User
from portal.permissions import can, permission_required


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@permission_required("checklists.view_library")
def library(request: HttpRequest) -> HttpResponse:
    rows = [
        {
            "checklist": checklist,
            "latest_published": selectors.latest_published(versions),
            "drafts": sum(1 for v in versions if not v.is_published),
        }
        for checklist, versions in selectors.library()
    ]
    return render(
        request,
        "checklists/library.html",
        {"rows": rows, "can_manage": can(request.user, "checklists.manage")},
    )


@permission_required("checklists.view_library")
def checklist_detail(request: HttpRequest, slug: str) -> HttpResponse:
    checklist = get_object_or_404(Checklist, slug=slug)
    versions = list(selectors.versions_of(checklist))
    return render(
        request,
        "checklists/checklist.html",
        {
            "checklist": checklist,
            "versions": versions,
            "compare_form": CompareForm(
                initial={"old": versions[1].number, "new": versions[0].number}
                if len(versions) > 1
                else None
            ),
            "can_manage": can(request.user, "checklists.manage"),
        },
    )


def _version(slug: str, number: int) -> ChecklistVersion:
    try:
        return selectors.version_with_content(slug, number)
    except ChecklistVersion.DoesNotExist:
        raise Http404("No such checklist version.") from None


@permission_required("checklists.view_library")
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = _version(slug, number)
    must_haves_only = request.GET.get("show") == "must-haves"
    return render(
        request,
        "checklists/version.html",
        {
            "version": version,
            "checklist": version.checklist,
            "must_haves_only": must_haves_only,
            "can_manage": can(request.user, "checklists.manage"),
        },
    )


@permission_required("checklists.view_library")
def version_compare(request: HttpRequest, slug: str) -> HttpResponse:
    checklist = get_object_or_404(Checklist, slug=slug)
    form = CompareForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "checklists/diff.html",
            {"checklist": checklist, "form": form, "diff": None},
            status=400,
        )
    versions = {
        v.number: v
        for v in checklist.versions.filter(
            number__in=[form.cleaned_data["old"], form.cleaned_data["new"]]
        )
    }
    missing = [n for n in (form.cleaned_data["old"], form.cleaned_data["new"]) if n not in versions]
    if missing:
        form.add_error(None, f"{checklist.title} has no version {missing[0]}.")
        return render(
            request,
            "checklists/diff.html",
            {"checklist": checklist, "form": form, "diff": None},
            status=404,
        )
    diff = selectors.version_diff(
        versions[form.cleaned_data["old"]], versions[form.cleaned_data["new"]]
    )
    return render(
        request, "checklists/diff.html", {"checklist": checklist, "form": form, "diff": diff}
    )


@permission_required("checklists.manage")
@require_POST
def version_publish(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_object_or_404(ChecklistVersion, checklist__slug=slug, number=number)
    try:
        services.version_publish(version=version, by=_user(request))
    except (services.ChecklistError, PublishedVersionError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{version} is published. It can no longer be changed.")
    return redirect(version.get_absolute_url())


@permission_required("checklists.manage")
@require_POST
def version_new_draft(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_object_or_404(ChecklistVersion, checklist__slug=slug, number=number)
    draft = services.version_new_draft(version=version, by=_user(request))
    messages.success(request, f"Created draft v{draft.number} from v{version.number}.")
    return redirect(draft.get_absolute_url())


@permission_required("checklists.manage")
@require_http_methods(["GET", "POST"])
def import_checklist(request: HttpRequest) -> HttpResponse:
    """Upload a file, see a preview of what it holds and would change, then confirm."""
    if request.method == "POST" and "payload" in request.POST:
        confirm = ChecklistConfirmForm(request.POST)
        if not confirm.is_valid():
            return render(
                request,
                "checklists/import.html",
                {"form": ChecklistUploadForm(), "errors": confirm.errors["payload"]},
                status=400,
            )
        data = confirm.cleaned_data["payload"]
        try:
            result = services.checklist_import(
                parsed=data["checklist"],
                by=_user(request),
                warnings=data["warnings"],
                publish=data["publish"],
            )
        except services.ChecklistError as exc:
            messages.error(request, str(exc))
            return redirect("checklists:import")
        if result.outcome == "no_change":
            messages.info(request, f"No change: {result.version} already holds this content.")
        else:
            state = "published" if result.version.is_published else "a draft"
            messages.success(request, f"Imported {result.version} ({state}).")
        return redirect(result.version.get_absolute_url())

    form = ChecklistUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        preview = None
        if form.is_valid():
            parsed = form.parsed.checklist
            try:
                preview = services.checklist_import_preview(parsed=parsed)
            except services.ChecklistError as exc:
                form.add_error("file", str(exc))
        if preview is not None:
            return render(
                request,
                "checklists/import_preview.html",
                {
                    "parsed": parsed,
                    "warnings": form.parsed.warnings,
                    "format": form.parsed.format,
                    "preview": preview,
                    "confirm_form": ChecklistConfirmForm(
                        initial={"payload": form.signed_payload()}
                    ),
                    "publish": form.cleaned_data["publish"],
                },
            )
        return render(request, "checklists/import.html", {"form": form}, status=400)
    return render(request, "checklists/import.html", {"form": form})
