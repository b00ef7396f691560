"""API views for the signed-in user and their workspaces."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.accounts.models import Membership
from studio.accounts.services import current_workspace_for
from studio.api import resolve_workspace


class MembershipSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="workspace.id")
    name = serializers.CharField(source="workspace.name")
    is_personal = serializers.BooleanField(source="workspace.is_personal")

    class Meta:
        model = Membership
        fields = ["id", "name", "is_personal", "role"]


class WorkspaceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    current_workspace = serializers.IntegerField()
    workspace = WorkspaceRefSerializer(help_text="The workspace this request acts in (see `?workspace=`).")


class MeView(APIView):
    """Who is asking, their current workspace, and the workspace this request acts in."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        current = current_workspace_for(request.user)
        workspace, membership = resolve_workspace(request)
        return Response({"username": request.user.username, "is_staff": request.user.is_staff,
                         "current_workspace": current.id,
                         "workspace": {"id": workspace.id, "name": workspace.name, "role": membership.role}})


class WorkspaceListView(APIView):
    """The workspaces the user belongs to, with their role in each."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request):
        current_workspace_for(request.user)
        memberships = Membership.objects.filter(user=request.user).select_related("workspace")
        return Response(MembershipSerializer(memberships, many=True).data)

