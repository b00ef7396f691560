"""python manage.py load_samples [--workspace ID] [--user NAME] [--sync]"""
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from studio.accounts.access import require_role
from studio.accounts.models import Role, User, Workspace
from studio.accounts.services import current_workspace_for
from studio.datasets import services


class Command(BaseCommand):
    help = ("Load the tutorial datasets (bank marketing train/validation/test, hardware performance, titanic, NYC "
            "energy demand train/test, orange-juice sales train/test) into a workspace. Datasets that exist already "
            "are left alone.")

    def add_arguments(self, parser):
        parser.add_argument("--user", help="username of the member who loads them (default: the first admin)")
        parser.add_argument("--workspace", type=int, help="workspace id (default: the user's current workspace)")
        parser.add_argument("--sync", action="store_true",
                            help="profile in this process instead of leaving it to a worker")

    def handle(self, *args, user=None, workspace=None, sync=False, **options):
        if user:
            person = User.objects.filter(username=user).first()
            if person is None:
                raise CommandError(f"No user {user!r}; create one first (the setup page or createsuperuser).")
        else:
            person = User.objects.filter(is_superuser=True).order_by("id").first() or User.objects.order_by("id").first()
            if person is None:
                raise CommandError("No user exists yet; open the studio once to create the first admin, then rerun.")
        if workspace:
            space = Workspace.objects.filter(pk=workspace).first()
            if space is None:
                raise CommandError(f"No workspace {workspace}; list them with the API at /api/v1/workspaces/.")
        else:
            space = current_workspace_for(person)
        try:
            require_role(person, space, Role.EDITOR)
        except (PermissionDenied, Http404):
            raise CommandError(f"{person.username} cannot add datasets to {space.name}: an editor role is needed.") \
                from None
        versions = services.load_samples(space, person, synchronous=sync)
        for version in versions:
            self.stdout.write(f"{version.dataset.name}: {version.n_rows:,} rows, {version.n_columns} columns "
                              f"({version.status})")
        if not versions:
            self.stdout.write(f"All sample datasets are already in {space.name}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Loaded {len(versions)} sample datasets into {space.name}."
                                                 + ("" if sync else " A worker profiles them now.")))
