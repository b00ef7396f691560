from django.urls import path

from studio.experiments import api

urlpatterns = [
    path("experiments/", api.ExperimentListView.as_view(), name="api-experiments"),
    path("experiments/<int:pk>/", api.ExperimentDetailView.as_view(), name="api-experiment"),
    path("experiments/<int:pk>/trials/", api.ExperimentTrialsView.as_view(), name="api-experiment-trials"),
    path("experiments/<int:pk>/cancel/", api.ExperimentCancelView.as_view(), name="api-experiment-cancel"),
    path("experiments/<int:pk>/retry/", api.ExperimentRetryView.as_view(), name="api-experiment-retry"),
    path("experiments/<int:pk>/logs/", api.ExperimentLogView.as_view(), name="api-experiment-logs"),
    path("trials/<int:pk>/", api.TrialDetailView.as_view(), name="api-trial"),
    path("trials/<int:pk>/model", api.TrialModelView.as_view(), name="api-trial-model"),
    path("trials/<int:pk>/onnx", api.TrialOnnxView.as_view(), name="api-trial-onnx"),
    path("trials/<int:pk>/feature-importance/", api.TrialImportanceView.as_view(), name="api-trial-importance"),
]
