"""The studio's pages under its Content-Security-Policy, enforced: a dataset's profile charts (Plotly), htmx
polling, Bootstrap menus and the confirm dialogs work, and the browser reports no violation."""
import pytest

from studio.datasets import services as datasets
from tests.conftest import SAMPLES, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_pages_work_with_the_policy_enforced(browser, live_server, team):
    from django.core.files import File

    with open(SAMPLES / "machine_full_209rows.csv", "rb") as f:
        version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="machine",
                                                  uploaded=File(f, "machine.csv"), file_name="machine.csv")
    datasets.profile_now(version)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        sign_in(page, "bob", "bob-pass-123")
        page.goto(f"/datasets/{version.dataset_id}/")
        page.locator("[data-testid=profile-columns] .ds-chart.js-plotly-plot").first.wait_for()
        assert page.locator("[data-testid=profile-columns] .ds-chart.js-plotly-plot").count() >= 5
        page.click("[data-testid=workspace-switcher]")  # Bootstrap's dropdown
        assert page.locator("#workspace-switcher .dropdown-menu").is_visible()
        page.goto(f"/datasets/{version.dataset_id}/")
        messages = []
        page.on("dialog", lambda d: (messages.append(d.message), d.dismiss()))
        page.click("[data-testid=tab-versions]")  # Bootstrap's tabs
        page.click("form[data-confirm] button[type=submit]")
        assert messages == ["Delete machine and all its versions?"]
        assert page.url.endswith(f"/datasets/{version.dataset_id}/")  # dismissed: nothing was deleted
        page.goto("/api/v1/docs/")
        page.locator(".swagger-ui .info").wait_for()
    finally:
        context.close()
    assert violations == []
