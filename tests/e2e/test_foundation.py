"""The studio as a person meets it: first-run setup, signing in, switching workspace, empty states."""
import pytest

from tests.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_first_visit_creates_the_admin_account(page, screenshots_dir):
    page.goto("/")
    assert page.url.endswith("/setup/")
    page.screenshot(path=screenshots_dir / "setup.png", full_page=True)
    page.fill("#id_username", "ada")
    page.fill("#id_password1", "correct-horse-9")
    page.fill("#id_password2", "correct-horse-9")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=current-workspace]")
    assert page.url == page.url.split("/setup/")[0].rstrip("/") + "/"
    assert page.locator("[data-testid=current-workspace]").inner_text() == "ada's workspace"
    assert "Welcome, ada" in page.locator(".flash-messages").inner_text()


def test_sign_in_switch_workspace_and_see_empty_states(page, team, screenshots_dir):
    sign_in(page, "bob", "bob-pass-123")
    assert page.locator("[data-testid=current-workspace]").inner_text() == "Team"
    page.screenshot(path=screenshots_dir / "home-team.png", full_page=True)

    page.click("[data-testid=workspace-switcher]")
    page.get_by_role("button", name="bob's workspace").click()
    page.wait_for_selector("text=Now working in bob's workspace.")
    assert page.locator("[data-testid=current-workspace]").inner_text() == "bob's workspace"
    team.bob.refresh_from_db()
    assert team.bob.current_workspace.name == "bob's workspace"

    steps = page.locator(".step-card")
    assert steps.count() == 4
    assert page.locator("[data-testid=step-datasets]").inner_text().count("Upload a CSV or Parquet file") == 1
    for title in ("datasets", "experiments", "models", "endpoints"):
        assert page.locator(f"[data-testid=step-{title}] .count").inner_text() == "0"
    page.screenshot(path=screenshots_dir / "home-empty.png", full_page=True)

    expected = {"Datasets": "No datasets in bob's workspace yet", "Experiments": "No experiments yet",
                "Models": "No registered models yet", "Endpoints": "No endpoints yet"}
    for section, heading in expected.items():
        page.locator("nav.studio-nav").get_by_role("link", name=section).click()
        assert page.locator(".empty-state h2").first.inner_text() == heading
        page.screenshot(path=screenshots_dir / f"empty-{section.lower()}.png", full_page=True)
