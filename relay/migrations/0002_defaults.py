from django.db import migrations


def create_defaults(apps, schema_editor):
    SendingConnectionPolicy = apps.get_model("relay", "SendingConnectionPolicy")
    DeliveryRoute = apps.get_model("relay", "DeliveryRoute")
    SendingConnectionPolicy.objects.get_or_create(
        name="Default", defaults={"enable_tls": True, "require_tls": False}
    )
    DeliveryRoute.objects.get_or_create(
        name="Default", defaults={"use_dns_first": True, "hosts": []}
    )


class Migration(migrations.Migration):
    dependencies = [("relay", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
