from django.urls import path

from studio.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("samples/", views.load_sample_datasets, name="samples"),
    path("new/", views.wizard, name="new"),
    path("new/create/", views.create, name="create"),
    path("uploads/", views.upload, name="upload"),
    path("uploads/<uuid:upload_id>/preview/", views.upload_preview, name="upload-preview"),
    path("uploads/<uuid:upload_id>/discard/", views.upload_discard, name="upload-discard"),
    path("uploads/<uuid:upload_id>/scans/<int:scan_id>/", views.upload_scan, name="upload-scan"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/profile/", views.profile_fragment, name="profile"),
    path("<int:pk>/profile/again/", views.profile_again, name="profile-again"),
    path("<int:pk>/schema/", views.schema, name="schema"),
    path("<int:pk>/timeseries/", views.timeseries_view, name="timeseries"),
    path("<int:pk>/timeseries/points/", views.timeseries_points, name="timeseries-points"),
    path("<int:pk>/preview.csv", views.preview_csv, name="preview-csv"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
