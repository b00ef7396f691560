from django.urls import path

from studio.pipelines import api

urlpatterns = [
    path("pipeline-jobs/", api.PipelineJobListView.as_view(), name="api-pipeline-jobs"),
    path("pipeline-jobs/<int:pk>/", api.PipelineJobDetailView.as_view(), name="api-pipeline-job"),
    path("pipeline-jobs/<int:pk>/cancel/", api.PipelineJobCancelView.as_view(), name="api-pipeline-job-cancel"),
    path("pipeline-jobs/<int:pk>/rerun/", api.PipelineJobRerunView.as_view(), name="api-pipeline-job-rerun"),
]
