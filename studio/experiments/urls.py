from django.urls import path

from studio.experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.experiment_list, name="list"),
    path("new/", views.wizard_start, name="new"),
    path("new/columns/", views.wizard_columns, name="wizard_columns"),
    path("new/<slug:step>/", views.wizard, name="wizard"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/live/", views.run_live, name="run_live"),
    path("runs/<int:pk>/logs/", views.run_logs, name="run_logs"),
    path("runs/<int:pk>/history/", views.run_history, name="run_history"),
    path("runs/<int:pk>/config.yml", views.run_config, name="run_config"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resubmit/", views.run_resubmit, name="run_resubmit"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run_retry"),
    path("runs/<int:pk>/compare/", views.run_compare, name="run_compare"),
    path("trials/<int:pk>/", views.trial_detail, name="trial"),
    path("trials/<int:pk>/importance/", views.trial_importance, name="trial_importance"),
    path("trials/<int:pk>/test/", views.trial_test, name="trial_test"),
    path("trials/<int:pk>/model.<str:fmt>", views.trial_download, name="trial_download"),
]
