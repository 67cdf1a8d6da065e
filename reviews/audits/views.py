"""Launch audits and journal notes. Permissions come from portal.permissions: whoever may
not read the review or service gets 404, whoever reads it but may not write gets 403."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from portal.accounts.models import User
from portal.permissions import can, require, require_object
from reviews.audits import selectors, services
from reviews.audits.forms import (
    JournalNoteEditForm,
    JournalNoteForm,
    SessionForm,
    decision_formset,
)
from reviews.models import AuditSession, DecisionOutcome, JournalNote, Review, Service
from reviews.record.asof import NotInRecord
from reviews.record.since import review_as_of_highlighted

JOURNAL_PAGE_SIZE = 25
# How each outcome's tag looks: actions stand out, acceptances read as done.
OUTCOME_TAGS: dict[str, str] = {
    DecisionOutcome.ACCEPTED: "bg-green",
    DecisionOutcome.ACTION: "bg-secondary-dark",
    DecisionOutcome.NOTED: "",
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _posted(request: HttpRequest) -> QueryDict | None:
    return request.POST if request.method == "POST" else None


def _add_errors(
    form: SessionForm | JournalNoteForm | JournalNoteEditForm, exc: ValidationError
) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- launch audits ---------------------------------------------------------------------


def _review(request: HttpRequest, pk: int, perm: str) -> Review:
    review = get_object_or_404(
        Review.objects.select_related("service__team", "checklist_version__checklist"), pk=pk
    )
    require_object(request.user, perm, review)
    return review


def _session(request: HttpRequest, pk: int) -> AuditSession:
    try:
        session = selectors.session_for_page(pk)
    except AuditSession.DoesNotExist:
        raise Http404("No such launch audit.") from None
    require_object(request.user, "reviews.view_review", session.review)
    return session


def _session_form_page(
    request: HttpRequest, review: Review, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(
        request, "reviews/audits/session_form.html", {"review": review, **context}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def session_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an in-person launch audit of a review, with its decisions."""
    review = _review(request, pk, "reviews.record_audit")
    data = _posted(request)
    form = SessionForm(data, review=review, editing=False, initial=SessionForm.initial_for(None))
    decisions = decision_formset(data, review=review)
    if data is not None:
        if form.is_valid() and decisions.is_valid():
            try:
                session = services.audit_session_record(
                    review=review,
                    by=_user(request),
                    details=form.details(),
                    decisions=decisions.decisions(),
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Launch audit recorded.")
                return redirect(session.get_absolute_url())
        return _session_form_page(request, review, {"form": form, "decisions": decisions}, 400)
    return _session_form_page(request, review, {"form": form, "decisions": decisions})


@login_required
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A launch audit: when, who, the minutes, the decisions (each linking to the answer
    it concerns), and the review as it stood at the moment the audit worked from."""
    session = _session(request, pk)
    try:
        as_of = review_as_of_highlighted(session.review, session.as_of)
    except NotInRecord:
        as_of = None
    anchors = selectors.answer_anchors(session)
    review_url = session.review.get_absolute_url()
    decisions = [
        (
            decision,
            f"{review_url}#answer-{anchors[decision.item_id]}"
            if decision.item_id in anchors
            else "",
            OUTCOME_TAGS[decision.outcome],
        )
        for decision in session.decisions.all()
    ]
    return render(
        request,
        "reviews/audits/session.html",
        {
            "session": session,
            "review": session.review,
            "decisions": decisions,
            "as_of": as_of,
            "can_edit": can(request.user, "reviews.change_audit", session),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a launch audit (its recorder only). A stale form is a conflict showing both
    versions; sending the same edit twice is not."""
    session = _session(request, pk)
    require(request.user, "reviews.change_audit", session)
    review = session.review
    data = _posted(request)
    form = SessionForm(data, review=review, editing=True, initial=SessionForm.initial_for(session))
    decisions = decision_formset(data, review=review, session=session)
    context: dict[str, Any] = {"session": session, "form": form, "decisions": decisions}
    if data is None:
        return _session_form_page(request, review, context)
    if form.is_valid() and decisions.is_valid():
        try:
            services.audit_session_update(
                session=session,
                by=_user(request),
                details=form.details(),
                decisions=decisions.decisions(),
                based_on_revision=form.cleaned_data["revision"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        except services.AuditConflict as exc:
            return _session_conflict(request, review, data, exc.current)
        else:
            messages.success(request, "Launch audit saved.")
            return redirect(session.get_absolute_url())
    return _session_form_page(request, review, context, 400)


def _session_conflict(
    request: HttpRequest, review: Review, data: QueryDict, current: AuditSession
) -> HttpResponse:
    """Keep what this person typed and show what is stored now; saving again from this
    form is a deliberate overwrite of that revision."""
    current = selectors.session_for_page(current.pk)
    data = data.copy()
    data["revision"] = str(current.revision)
    stored = {d.pk for d in current.decisions.all()}
    # A row editing a decision removed since becomes a new decision, so saving keeps it.
    for key in [k for k in data if k.startswith("decisions-") and k.endswith("-decision")]:
        value = data.get(key, "")
        if value.isdigit() and int(value) not in stored:
            data[key] = ""
    form = SessionForm(data, review=review, editing=True, initial=SessionForm.initial_for(current))
    form.is_valid()
    decisions = decision_formset(data, review=review, session=current)
    decisions.is_valid()
    latest = current.history.select_related("history_user").first()
    return _session_form_page(
        request,
        review,
        {
            "session": current,
            "form": form,
            "decisions": decisions,
            "conflict": current,
            "conflict_by": latest.history_user if latest else None,
        },
        409,
    )


# --- the journal -------------------------------------------------------------------------


def _journal_filter(request: HttpRequest, service: Service) -> Review | None:
    """The review ``?review=`` names, when it is one of the service's (else none)."""
    given = request.GET.get("review", "")
    if not given.isdigit() or len(given) > 18:
        return None
    return service.reviews.filter(pk=int(given)).first()


@login_required
@require_http_methods(["GET", "POST"])
def journal(request: HttpRequest, slug: str) -> HttpResponse:
    """A service's journal, newest first, and the form to write in it (POST adds a note
    on the service or, with ``review``, on one of its reviews)."""
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    user = _user(request)
    data = _posted(request)
    require_object(
        user, "reviews.write_journal" if data is not None else "reviews.view_service", service
    )
    can_write = can(user, "reviews.write_journal", service)
    form = JournalNoteForm(data, service=service) if can_write else None
    status = 200
    if form is not None and data is not None:
        if form.is_valid():
            about = form.cleaned_data["review"]
            try:
                services.journal_note_add(
                    service=service, review=about, by=user, body=form.cleaned_data["body"]
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Note added to the journal.")
                target = about.get_absolute_url() if about else service.get_absolute_url()
                return redirect(f"{target}#journal")
        status = 400
    about = _journal_filter(request, service)
    page = Paginator(selectors.journal_of(service, about), JOURNAL_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "reviews/audits/journal.html",
        {"service": service, "about": about, "page": page, "form": form},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def journal_note_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a journal note (its author only); every version stays in the record."""
    note = get_object_or_404(
        JournalNote.objects.select_related("service__team", "review", "author"), pk=pk
    )
    require_object(request.user, "reviews.view_service", note.service)
    require(request.user, "reviews.change_journal_note", note)
    data = _posted(request)
    form = JournalNoteEditForm(data, initial={"body": note.body, "revision": note.revision})
    context: dict[str, Any] = {"note": note, "form": form}
    if data is None:
        return render(request, "reviews/audits/note_form.html", context)
    if form.is_valid():
        try:
            services.journal_note_update(
                note=note,
                by=_user(request),
                body=form.cleaned_data["body"],
                based_on_revision=form.cleaned_data["revision"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        except services.NoteConflict as exc:
            typed = data.copy()
            typed["revision"] = str(exc.current.revision)
            form = JournalNoteEditForm(typed)
            form.is_valid()
            context |= {"form": form, "conflict": exc.current}
            return render(request, "reviews/audits/note_form.html", context, status=409)
        else:
            messages.success(request, "Note saved.")
            target = (
                note.review.get_absolute_url() if note.review else note.service.get_absolute_url()
            )
            return redirect(f"{target}#journal")
    return render(request, "reviews/audits/note_form.html", context, status=400)
