from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.urls import reverse

from portal.accounts.roles import GROUP_ROLES, Role, role_for_group_name
from portal.audit.history import acting, recorded
from portal.validators import multi_line_text, single_line_text


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    """A person who signs in to Preflight, identified by email address."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True, validators=[single_line_text])
    # Redeclared from AbstractUser only to carry the text validator every string field has.
    first_name = models.CharField(
        "first name", max_length=150, blank=True, validators=[single_line_text]
    )
    last_name = models.CharField(
        "last name", max_length=150, blank=True, validators=[single_line_text]
    )
    password = models.CharField("password", max_length=128, validators=[single_line_text])

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]
    history = recorded(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ("email",)

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    @property
    def roles(self) -> frozenset[Role]:
        """The roles this user holds, loaded once per user object."""
        cached: frozenset[Role] | None = getattr(self, "_roles_cache", None)
        if cached is None:
            found = {
                role
                for name in self.groups.values_list("name", flat=True)
                if (role := role_for_group_name(name)) is not None
            }
            if self.is_active and self.is_staff:
                found.add(Role.ADMIN)
            cached = frozenset(found) if self.is_active else frozenset()
            self._roles_cache = cached
        return cached

    @property
    def team_ids(self) -> frozenset[int]:
        """The ids of this user's teams, loaded once per user object."""
        cached: frozenset[int] | None = getattr(self, "_team_ids_cache", None)
        if cached is None:
            cached = frozenset(self.teams.values_list("pk", flat=True))
            self._team_ids_cache = cached
        return cached

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def forget_roles(self) -> None:
        self.__dict__.pop("_roles_cache", None)
        self.__dict__.pop("_team_ids_cache", None)

    @property
    def role_labels(self) -> list[str]:
        order = [*GROUP_ROLES, Role.ADMIN]
        return [str(role.label) for role in order if role in self.roles]


class Team(models.Model):
    """A group of people who own services together."""

    name = models.CharField(max_length=120, unique=True, validators=[single_line_text])
    slug = models.SlugField(max_length=120, unique=True, validators=[single_line_text])
    description = models.TextField(blank=True, validators=[multi_line_text])
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:accounts_team_change", args=[self.pk])


class SecurityPolicy(models.Model):
    """The portal-wide security settings an admin controls (a single row)."""

    require_mfa_for_privileged = models.BooleanField(
        "require MFA for reviewers and admins",
        default=False,
        help_text="Reviewers and admins without an authenticator app are sent to set one up "
        "before they can use the portal.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = recorded()

    class Meta:
        verbose_name = "security policy"
        verbose_name_plural = "security policy"

    def __str__(self) -> str:
        return "Security policy"

    @classmethod
    def current(cls) -> SecurityPolicy:
        # The defaults are stored the first time anyone needs them; the record says so.
        with acting(by=None, reason="The default security policy came into force"):
            policy, _ = cls.objects.get_or_create(pk=1)
        return policy


# What a personal API token starts with (a CI token starts with ``pft_``).
API_TOKEN_PREFIX = "pfu_"  # noqa: S105 (a marker, not a secret)


class ApiToken(models.Model):
    """A person's read-only API token: it reads the API as them, with their current roles.

    Only its hash is stored (``portal.tokens``); the token is shown once, when it is made.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, validators=[single_line_text])
    prefix = models.CharField(
        max_length=12,
        help_text="The start of the token, to tell it apart.",
        validators=[single_line_text],
    )
    token_hash = models.CharField(max_length=64, unique=True, validators=[single_line_text])
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Not the hash (a secret), nor when it was last used (every read would add a row).
    history = recorded(excluded_fields=["token_hash", "last_used_at"])

    class Meta:
        verbose_name = "API token"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
