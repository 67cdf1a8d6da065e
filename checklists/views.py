from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.permissions import permission_required


@permission_required("checklists.view_library")
def library(request: HttpRequest) -> HttpResponse:
    return render(request, "checklists/library.html")
