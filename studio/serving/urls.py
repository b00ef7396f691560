from django.urls import path

from studio.serving import forecast_views, views

app_name = "serving"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("deploy/<int:model_pk>/<int:number>/", views.deploy, name="deploy"),
    path("<int:pk>/", views.endpoint_detail, name="detail"),
    path("<int:pk>/test/", views.test_score, name="test"),
    path("<int:pk>/test/forecast/", forecast_views.forecast_test, name="forecast_test"),
    path("<int:pk>/traffic/", views.traffic, name="traffic"),
    path("<int:pk>/deployments/<str:name>/delete/", views.deployment_delete, name="deployment_delete"),
    path("<int:pk>/key/", views.rotate_key, name="rotate_key"),
    path("<int:pk>/delete/", views.endpoint_delete, name="delete"),
    path("<int:pk>/batch/", views.batch_start, name="batch"),
    path("<int:pk>/batch/<int:job_pk>/", views.batch_status, name="batch_status"),
    path("<int:pk>/batch/<int:job_pk>/download/", views.batch_download, name="batch_download"),
]
