"""Forms for setup, user management, workspaces and members."""
from django import forms
from django.contrib.auth import password_validation

from studio.accounts.models import Role, User
from studio.forms import StyledFormMixin


class NewUserForm(StyledFormMixin, forms.Form):
    """A new account: used for the first admin and by admins adding people."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Repeat password", widget=forms.PasswordInput, strip=False)
    is_staff = forms.BooleanField(label="Administrator", required=False,
                                  help_text="Administrators manage user accounts.")

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(f"The username {username!r} is taken; choose another.")
        return username

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ; type the same password twice.")
        elif p1:
            try:
                password_validation.validate_password(p1, User(username=cleaned.get("username", "")))
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class SetupForm(NewUserForm):
    """The first administrator, with the offer to start from the tutorial datasets."""

    load_samples = forms.BooleanField(required=False, initial=True,
                                      help_text="Lets you try an experiment in a minute; you can delete them later.")

    def __init__(self, *args, **kwargs):
        from studio.datasets.services import SAMPLES

        super().__init__(*args, **kwargs)
        del self.fields["is_staff"]  # the first account is always an administrator
        # Named from the list load_samples reads, so the offer always says exactly what is added.
        names = [name for name, *_ in SAMPLES]
        self.fields["load_samples"].label = (f"Add the {len(names)} sample datasets ({', '.join(names)}) to my "
                                             "workspace")


class WorkspaceForm(StyledFormMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MemberForm(StyledFormMixin, forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user's username.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is called {username!r}; an admin can create the account.")
        self.cleaned_data["user"] = user
        return username
