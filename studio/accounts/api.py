"""API views for the signed-in user and their workspaces."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.accounts.models import Membership
from studio.accounts.services import current_workspace_for


class MembershipSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="workspace.id")
    name = serializers.CharField(source="workspace.name")
    is_personal = serializers.BooleanField(source="workspace.is_personal")

    class Meta:
        model = Membership
        fields = ["id", "name", "is_personal", "role"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    current_workspace = serializers.IntegerField()


class MeView(APIView):
    """Who is asking, and the workspace their requests act in by default."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        workspace = current_workspace_for(request.user)
        return Response({"username": request.user.username, "is_staff": request.user.is_staff,
                         "current_workspace": workspace.id})


class WorkspaceListView(APIView):
    """The workspaces the user belongs to, with their role in each."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request):
        current_workspace_for(request.user)
        memberships = Membership.objects.filter(user=request.user).select_related("workspace")
        return Response(MembershipSerializer(memberships, many=True).data)
