from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0011_portfolio"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="service",
            index=models.Index(fields=["name", "id"], name="service_by_name"),
        ),
    ]
