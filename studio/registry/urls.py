from django.urls import path

from studio.registry import views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="list"),
    path("register/", views.register, name="register"),
    path("<int:pk>/", views.model_detail, name="model"),
    path("<int:pk>/edit/", views.model_edit, name="edit"),
    path("<int:pk>/aliases/", views.alias_set, name="alias_set"),
    path("<int:pk>/aliases/<str:alias>/delete/", views.alias_delete, name="alias_delete"),
    path("<int:pk>/compare/", views.compare, name="compare"),
    path("<int:pk>/versions/<int:number>/", views.version_detail, name="version"),
    path("<int:pk>/versions/<int:number>/download/", views.version_download, name="download"),
    path("<int:pk>/versions/<int:number>/threshold/", views.version_threshold, name="threshold"),
    path("<int:pk>/versions/<int:number>/delete/", views.version_delete, name="version_delete"),
]
