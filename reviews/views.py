"""Services, reviews and answering. Permissions come from portal.permissions."""

from __future__ import annotations

from collections.abc import Callable

from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit import events
from portal.permissions import (
    can,
    permission_required,
    require,
    require_object,
)
from reviews import evidence as evidence_services
from reviews import selectors, services, signoffs, waivers
from reviews.audits import selectors as audit_selectors
from reviews.checks import selectors as check_selectors
from reviews.checks.collectors import egress
from reviews.forms import (
    AnswerForm,
    CommentForm,
    EvidenceForm,
    ReviewStartForm,
    ServiceForm,
    SignOffForm,
    WaiverDecisionForm,
    WaiverRequestForm,
    WithdrawEvidenceForm,
)
from reviews.models import Answer, CheckStanding, Evidence, Review, Service, Waiver
from reviews.portfolio import selectors as portfolio_selectors
from reviews.portfolio.charts import readiness_chart
from reviews.workflow import ACTION_LABELS, IllegalTransition, allowed_actions, allows


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@permission_required("reviews.view_portfolio")
def services_list(request: HttpRequest) -> HttpResponse:
    """The old *My services* address: the portfolio shows a lead's teams' services now."""
    return redirect("reviews:portfolio")


@permission_required("reviews.add_service")
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    teams = services.teams_for(_user(request))
    form = ServiceForm(request.POST or None, teams=teams)
    if request.method == "POST":
        if form.is_valid():
            service = services.service_create(by=_user(request), **form.cleaned_data)
            messages.success(request, f"Created {service.name}.")
            _warn_about_refused_urls(request, form)
            return redirect(service.get_absolute_url())
        return render(request, "reviews/service_form.html", {"form": form}, status=400)
    if not teams:
        messages.warning(request, "You are not in a team yet: ask an admin to add you to one.")
    return render(request, "reviews/service_form.html", {"form": form})


def _warn_about_refused_urls(request: HttpRequest, form: ServiceForm) -> None:
    """Saved, but say so when checks will refuse an address (see checks.collectors.egress)."""
    labels = {name: str(field.label) for name, field in form.fields.items()}
    for warning in egress.service_url_warnings(form.cleaned_data, labels):
        messages.warning(request, warning)


@login_required
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    require_object(request.user, "reviews.view_service", service)
    can_start = can(request.user, "reviews.start_review", service)
    return _service_page(request, service, ReviewStartForm() if can_start else None)


def _service_page(
    request: HttpRequest, service: Service, start_form: ReviewStartForm | None, status: int = 200
) -> HttpResponse:
    user = request.user
    can_revoke_tokens = can(user, "reviews.revoke_token", service)
    trend = portfolio_selectors.service_trend(service)
    return render(
        request,
        "reviews/service.html",
        {
            "service": service,
            "reviews": service.reviews.select_related("checklist_version__checklist"),
            "can_change": can(user, "reviews.change_service", service),
            "can_run_checks": can(user, "reviews.run_checks", service),
            "can_manage_tokens": can(user, "reviews.manage_tokens", service),
            "can_revoke_tokens": can_revoke_tokens,
            "start_form": start_form,
            "standings": check_selectors.standings_for_page(service),
            "trend": trend,
            "chart": readiness_chart(
                [(p.date, p.readiness) for p in trend], f"Readiness of {service.name}"
            ),
            "tokens": service.tokens.all() if can_revoke_tokens else [],
            **audit_selectors.service_page_context(user, service),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.change_service", service)
    form = ServiceForm(
        request.POST or None,
        instance=service,
        teams=services.teams_for(_user(request)) or [service.team],
    )
    if request.method == "POST":
        if form.is_valid():
            services.service_update(service=service, by=_user(request), **form.cleaned_data)
            messages.success(request, f"Saved {service.name}.")
            _warn_about_refused_urls(request, form)
            return redirect(service.get_absolute_url())
        return render(
            request, "reviews/service_form.html", {"form": form, "service": service}, status=400
        )
    return render(request, "reviews/service_form.html", {"form": form, "service": service})


@login_required
@require_POST
def review_start(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.start_review", service)
    form = ReviewStartForm(request.POST)
    if form.is_valid():
        try:
            review = services.review_start(service=service, by=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Review started: answer each item, must-haves first.")
            return redirect(review.get_absolute_url())
    return _service_page(request, service, form, status=400)


def _review(request: HttpRequest, pk: int, perm: str) -> Review:
    try:
        review = selectors.review_for_page(pk)
    except Review.DoesNotExist:
        raise Http404("No such review.") from None
    require_object(request.user, perm, review)
    return review


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(request, pk, "reviews.view_review")
    show = request.GET.get("show", "all")
    if show not in selectors.FILTERS:
        show = "all"
    user = _user(request)
    can_change = can(user, "reviews.change_review", review)
    abilities = _abilities(user, review)
    can_edit = abilities["can_edit"]
    owners = selectors.owner_choices(review.service) if can_edit else {}
    service_checks = check_selectors.standings(review.service)
    sections = selectors.answers_with_context(review, show)
    rows = [
        (
            section.title,
            [
                _row(answer, owners, can_edit, review, checks=service_checks)
                for answer in section.answers
            ],
        )
        for section in sections
    ]
    signoff_history = list(review.signoffs.select_related("reviewer"))
    return render(
        request,
        "reviews/review.html",
        {
            "review": review,
            "rows": rows,
            "show": show,
            "filters": selectors.FILTERS,
            **abilities,
            "signoffs": signoff_history,
            **audit_selectors.review_page_context(user, review),
            "can_sign": allows(review, "signoff")
            and bool(signoffs.signable_roles(review, user))
            and can(user, "reviews.sign_review", review),
            "today": timezone.localdate(),
            "actions": [
                (action, ACTION_LABELS[action])
                for action in allowed_actions(review)
                if action in ("submit", "withdraw")
            ]
            if can_change
            else [],
        },
    )


def _abilities(user: User, review: Review) -> dict[str, bool]:
    """What ``user`` may do to ``review`` now: their role (portal.permissions) and the
    review's state (reviews.workflow.WRITES), the same rules the services enforce."""
    can_change = can(user, "reviews.change_review", review)
    return {
        # Answers, evidence and exception requests follow the same states.
        "can_edit": can_change and allows(review, "answer"),
        "can_request_exception": can_change and allows(review, "exception_request"),
        "can_comment": can(user, "reviews.comment", review) and allows(review, "comment"),
        "can_decide": can(user, "reviews.decide_waiver", review)
        and allows(review, "exception_decision"),
    }


def _row(
    answer: Answer,
    owners: dict[str, object],
    can_edit: bool,
    review: Review,
    form: AnswerForm | None = None,
    checks: dict[str, CheckStanding] | None = None,
) -> dict[str, object]:
    if can_edit and form is None:
        form = AnswerForm(
            owners=owners,
            initial={
                "status": answer.status,
                "justification": answer.justification,
                "notes": answer.notes,
                "owner": str(answer.owner_id or ""),
                "revision": answer.revision,
            },
            prefix=f"a{answer.pk}",
        )
    automated = check_selectors.item_checks(answer.item.checks, checks or {})
    return {
        "answer": answer,
        "form": form,
        "review": review,
        "automated": automated,
        "contradiction": check_selectors.contradicted(answer, automated),
    }


@login_required
@require_POST
def answer_save(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    """Save one answer; htmx swaps the returned row in place (422 invalid, 409 conflict)."""
    review = _review(request, pk, "reviews.change_review")
    answer = get_object_or_404(
        Answer.objects.select_related("item__section", "owner"), pk=answer_pk, review=review
    )
    owners = selectors.owner_choices(review.service)
    form: AnswerForm | None = AnswerForm(request.POST, owners=owners, prefix=f"a{answer.pk}")
    assert form is not None
    status, conflict, notice = 200, None, ""
    if not form.is_valid():
        status = 422
    else:
        try:
            answer = services.answer_update(
                answer=answer,
                change=form.change(),
                based_on_revision=form.cleaned_data["revision"],
                by=_user(request),
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
            status = 422
        except services.AnswerConflict as exc:
            # Keep what this person typed; show what the other person saved; the next
            # save (from this form) is a deliberate overwrite of that revision.
            conflict = exc.current
            data = request.POST.copy()
            data[f"a{answer.pk}-revision"] = str(conflict.revision)
            form = AnswerForm(data, owners=owners, prefix=f"a{answer.pk}")
            form.is_valid()
            answer = conflict
            status = 409
        except IllegalTransition as exc:
            form.add_error(None, str(exc))
            status = 409
        else:
            form = None
            notice = "Saved."
    if not request.htmx:  # type: ignore[attr-defined]
        if status == 200:
            messages.success(request, "Answer saved.")
            return redirect(f"{review.get_absolute_url()}#answer-{answer.pk}")
        messages.error(request, "The answer was not saved: see the item below.")
    review.refresh_from_db()
    context = _row(
        answer, owners, True, review, form, checks=check_selectors.standings(review.service)
    )
    context |= {
        "conflict": conflict,
        "notice": notice,
        "swap_summary": True,
        **_abilities(_user(request), review),
        "today": timezone.localdate(),
    }
    if not request.htmx:  # type: ignore[attr-defined]
        return render(request, "reviews/answer_page.html", context, status=status)
    return render(request, "reviews/_answer_row.html", context, status=status)


@login_required
@require_POST
def review_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    review = _review(request, pk, "reviews.change_review")
    if action not in ("submit", "withdraw"):
        messages.error(request, "That is not something you can do to a review here.")
        return redirect(review.get_absolute_url())
    try:
        services.review_transition(review=review, action=action, by=_user(request))
    except IllegalTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The review is {ACTION_LABELS[action]}.")
    return redirect(review.get_absolute_url())


# --- evidence, comments, exceptions ----------------------------------------------------------


def _answer(request: HttpRequest, pk: int, answer_pk: int, perm: str) -> tuple[Review, Answer]:
    review = _review(request, pk, perm)
    answer = get_object_or_404(
        Answer.objects.select_related("item", "review"), pk=answer_pk, review=review
    )
    return review, answer


def _back(review: Review, answer: Answer) -> HttpResponse:
    return redirect(f"{review.get_absolute_url()}#answer-{answer.pk}")


def _form_error_page(
    request: HttpRequest, review: Review, answer: Answer, form: forms.Form, title: str
) -> HttpResponse:
    return render(
        request,
        "reviews/answer_form_error.html",
        {"review": review, "answer": answer, "form": form, "title": title},
        status=400,
    )


@login_required
@require_POST
def evidence_add(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    form = EvidenceForm(request.POST, request.FILES)

    def add() -> object:
        data = form.cleaned_data
        return evidence_services.evidence_add(
            answer=answer,
            by=_user(request),
            kind=data["kind"],
            url=data["url"],
            note=data["note"],
            upload=data["file"],
            effective_date=data["effective_date"],
            fresh_until=data["fresh_until"],
        )

    if _attempt(form, add):
        messages.success(request, "Evidence added.")
        return _back(review, answer)
    return _form_error_page(request, review, answer, form, "Evidence not added")


@login_required
@require_POST
def evidence_withdraw(
    request: HttpRequest, pk: int, answer_pk: int, evidence_pk: int
) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    evidence = get_object_or_404(Evidence, pk=evidence_pk, answer=answer)
    form = WithdrawEvidenceForm(request.POST)
    withdrawn = _attempt(
        form,
        lambda: evidence_services.evidence_withdraw(
            evidence=evidence, by=_user(request), reason=form.cleaned_data["reason"]
        ),
    )
    if withdrawn:
        messages.success(request, "Evidence withdrawn (it stays in the record).")
        return _back(review, answer)
    return _form_error_page(request, review, answer, form, "Evidence not withdrawn")


@login_required
def evidence_file(request: HttpRequest, evidence_pk: int) -> FileResponse:
    evidence = get_object_or_404(
        Evidence.objects.select_related("answer__review__service"), pk=evidence_pk
    )
    require_object(request.user, "reviews.view_review", evidence.answer.review)
    if not evidence.file:
        raise Http404("This evidence has no file.")
    events.file_downloaded(
        request, what=evidence.original_name, evidence=evidence.pk, review=evidence.answer.review_id
    )
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def comment_add(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.comment")
    form = CommentForm(request.POST)
    added = _attempt(
        form,
        lambda: services.comment_add(
            answer=answer, by=_user(request), body=form.cleaned_data["body"]
        ),
    )
    if added:
        messages.success(request, "Comment added.")
        return _back(review, answer)
    return _form_error_page(request, review, answer, form, "Comment not added")


@login_required
@require_POST
def waiver_request(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.change_review")
    form = WaiverRequestForm(request.POST)
    requested = _attempt(
        form, lambda: waivers.waiver_request(answer=answer, by=_user(request), **form.cleaned_data)
    )
    if requested:
        messages.success(request, "Exception requested: a security reviewer or manager decides.")
        return _back(review, answer)
    return _form_error_page(request, review, answer, form, "Exception not requested")


@login_required
@require_POST
def waiver_decide(request: HttpRequest, pk: int, answer_pk: int, waiver_pk: int) -> HttpResponse:
    review, answer = _answer(request, pk, answer_pk, "reviews.view_review")
    waiver = get_object_or_404(
        Waiver.objects.select_related("answer__review"), pk=waiver_pk, answer=answer
    )
    require(request.user, "reviews.decide_waiver", waiver)
    form = WaiverDecisionForm(request.POST)
    decided = _attempt(
        form,
        lambda: waivers.waiver_decide(
            waiver=waiver,
            by=_user(request),
            approve=form.cleaned_data["decision"] == "approve",
            comment=form.cleaned_data["comment"],
        ),
    )
    if decided:
        messages.success(request, "Decision recorded.")
        return _back(review, answer)
    return _form_error_page(request, review, answer, form, "Decision not recorded")


def _add_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _attempt(form: forms.BaseForm, action: Callable[[], object]) -> bool:
    """Run a service call for a valid form; its refusals become the form's errors."""
    if not form.is_valid():
        return False
    try:
        action()
    except ValidationError as exc:
        _add_errors(form, exc)
        return False
    except IllegalTransition as exc:
        form.add_error(None, str(exc))
        return False
    return True


# --- sign-offs and the reviewer queue ------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def signoff(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a sign-off. Whatever would refuse it is said first; only then is a fresh
    re-authentication asked for (with MFA when enrolled)."""
    review = _review(request, pk, "reviews.sign_review")
    user = _user(request)
    refusal = signoffs.signoff_refusal(review, user)
    if refusal:
        raise PermissionDenied(refusal)
    if not allows(review, "signoff"):
        messages.error(
            request,
            f"This review is {review.get_state_display().lower()}: "
            "only submitted reviews are signed off.",
        )
        return redirect(review.get_absolute_url())
    response: HttpResponse = _signoff_form(request, review)  # allauth's decorator is untyped
    return response


@reauthentication_required
def _signoff_form(request: HttpRequest, review: Review) -> HttpResponse:
    roles = [(role, Role(role).label) for role in signoffs.signable_roles(review, _user(request))]
    form = SignOffForm(request.POST or None, roles=roles)
    recorded = request.method == "POST" and _attempt(
        form,
        lambda: signoffs.signoff_record(review=review, by=_user(request), **form.cleaned_data),
    )
    if recorded:
        messages.success(request, "Sign-off recorded.")
        return redirect(review.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "reviews/signoff.html", {"review": review, "form": form}, status=status)


@permission_required("reviews.view_review_queue")
def queue(request: HttpRequest) -> HttpResponse:
    rows = selectors.review_queue(_user(request))
    return render(request, "reviews/queue.html", {"rows": rows})
