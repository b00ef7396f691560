from django.urls import path

from studio.pipelines import views

app_name = "pipelines"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.new, name="new"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("jobs/<int:pk>/rerun/", views.job_rerun, name="rerun"),
    path("jobs/<int:pk>/steps/<str:step>/endpoint-key/", views.step_endpoint_key, name="step-endpoint-key"),
    path("jobs/<int:pk>/steps/<str:step>/<str:output>.json", views.step_output, name="step-output"),
    path("schedules/", views.schedules, name="schedules"),
    path("schedules/<int:pk>/pause/", views.schedule_pause, name="schedule-pause"),
]
