from django.urls import path

from studio.codefirst import views

app_name = "codefirst"

urlpatterns = [
    path("trials/<int:pk>/", views.trial_code, name="trial-code"),
    path("trials/<int:pk>/train.py", views.trial_code_download, name="trial-code-download"),
    path("runs/<int:pk>/data/<str:role>.csv", views.run_data_download, name="run-data"),
    path("trials/<int:pk>/mlflow.zip", views.trial_mlflow, name="trial-mlflow"),
    path("models/<int:pk>/versions/<int:number>/mlflow.zip", views.version_mlflow, name="version-mlflow"),
]
