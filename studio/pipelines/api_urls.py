from django.urls import path

from studio.pipelines import api

urlpatterns = [
    path("pipeline-jobs/", api.PipelineJobListView.as_view(), name="api-pipeline-jobs"),
    path("pipeline-jobs/<int:pk>/", api.PipelineJobDetailView.as_view(), name="api-pipeline-job"),
    path("pipeline-jobs/<int:pk>/cancel/", api.PipelineJobCancelView.as_view(), name="api-pipeline-job-cancel"),
    path("pipeline-jobs/<int:pk>/rerun/", api.PipelineJobRerunView.as_view(), name="api-pipeline-job-rerun"),
    path("pipeline-jobs/<int:pk>/steps/<str:step>/endpoint-key/", api.PipelineStepEndpointKeyView.as_view(),
         name="api-pipeline-step-endpoint-key"),
    path("pipeline-schedules/", api.PipelineScheduleListView.as_view(), name="api-pipeline-schedules"),
    path("pipeline-schedules/<int:pk>/", api.PipelineScheduleDetailView.as_view(), name="api-pipeline-schedule"),
    path("pipeline-schedules/<int:pk>/enable/", api.PipelineScheduleEnableView.as_view(enable=True),
         name="api-pipeline-schedule-enable"),
    path("pipeline-schedules/<int:pk>/disable/", api.PipelineScheduleEnableView.as_view(enable=False),
         name="api-pipeline-schedule-disable"),
]
