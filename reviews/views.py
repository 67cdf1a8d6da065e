"""Services, reviews and answering. Permissions come from portal.permissions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.models import User
from portal.permissions import can, permission_required, require, visible_services
from reviews import selectors, services
from reviews.forms import AnswerForm, ReviewStartForm, ServiceForm
from reviews.models import Answer, Review, Service
from reviews.workflow import ACTION_LABELS, IllegalTransition, allowed_actions


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@permission_required("reviews.view_own_services")
def services_list(request: HttpRequest) -> HttpResponse:
    """My services: the product lead's teams' services and their latest reviews."""
    rows = selectors.services_with_latest_review(visible_services(request.user))
    return render(
        request,
        "reviews/services.html",
        {"rows": rows, "can_add": can(request.user, "reviews.add_service")},
    )


@permission_required("reviews.add_service")
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    teams = services.teams_for(_user(request))
    form = ServiceForm(request.POST or None, teams=teams)
    if request.method == "POST":
        if form.is_valid():
            service = services.service_create(by=_user(request), **form.cleaned_data)
            messages.success(request, f"Created {service.name}.")
            return redirect(service.get_absolute_url())
        return render(request, "reviews/service_form.html", {"form": form}, status=400)
    if not teams:
        messages.warning(request, "You are not in a team yet: ask an admin to add you to one.")
    return render(request, "reviews/service_form.html", {"form": form})


@login_required
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    require(request.user, "reviews.view_service", service)
    can_start = can(request.user, "reviews.start_review", service)
    return render(
        request,
        "reviews/service.html",
        {
            "service": service,
            "reviews": service.reviews.select_related("checklist_version__checklist"),
            "can_change": can(request.user, "reviews.change_service", service),
            "start_form": ReviewStartForm() if can_start else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require(request.user, "reviews.change_service", service)
    form = ServiceForm(
        request.POST or None,
        instance=service,
        teams=services.teams_for(_user(request)) or [service.team],
    )
    if request.method == "POST":
        if form.is_valid():
            services.service_update(service=service, by=_user(request), **form.cleaned_data)
            messages.success(request, f"Saved {service.name}.")
            return redirect(service.get_absolute_url())
        return render(
            request, "reviews/service_form.html", {"form": form, "service": service}, status=400
        )
    return render(request, "reviews/service_form.html", {"form": form, "service": service})


@login_required
@require_POST
def review_start(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    require(request.user, "reviews.start_review", service)
    form = ReviewStartForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "reviews/service.html",
            {
                "service": service,
                "reviews": service.reviews.select_related("checklist_version__checklist"),
                "can_change": can(request.user, "reviews.change_service", service),
                "start_form": form,
            },
            status=400,
        )
    review = services.review_start(service=service, by=_user(request), **form.cleaned_data)
    messages.success(request, "Review started: answer each item, must-haves first.")
    return redirect(review.get_absolute_url())


def _review(request: HttpRequest, pk: int, perm: str) -> Review:
    try:
        review = selectors.review_for_page(pk)
    except Review.DoesNotExist:
        from django.http import Http404

        raise Http404("No such review.") from None
    require(request.user, perm, review)
    return review


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(request, pk, "reviews.view_review")
    show = request.GET.get("show", "all")
    if show not in selectors.FILTERS:
        show = "all"
    can_edit = can(request.user, "reviews.change_review", review)
    owners = selectors.owner_choices(review.service) if can_edit else {}
    sections = selectors.answers_by_section(review, show)
    rows = [
        (
            section.title,
            [_row(answer, owners, can_edit, review) for answer in section.answers],
        )
        for section in sections
    ]
    return render(
        request,
        "reviews/review.html",
        {
            "review": review,
            "rows": rows,
            "show": show,
            "filters": selectors.FILTERS,
            "can_edit": can_edit,
            "actions": [
                (action, ACTION_LABELS[action])
                for action in allowed_actions(review)
                if action in ("submit", "withdraw")
            ]
            if can_edit
            else [],
        },
    )


def _row(
    answer: Answer,
    owners: dict[str, object],
    can_edit: bool,
    review: Review,
    form: AnswerForm | None = None,
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
    return {"answer": answer, "form": form, "review": review}


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
    context = _row(answer, owners, True, review, form)
    context |= {"conflict": conflict, "notice": notice, "swap_summary": True}
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


@permission_required("reviews.view_review_queue")
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/queue.html")


@permission_required("reviews.view_portfolio")
def portfolio(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/portfolio.html")
