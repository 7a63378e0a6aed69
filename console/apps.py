from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Switchyard console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console.api import schema  # noqa: F401  (registers the OpenAPI auth extensions)
