"""The dataset wizard in a real browser: upload, change the delimiter, override a type, create, watch the profile."""
import pytest

from studio.datasets.models import Dataset
from tests.conftest import sign_in
from tests.studio.datasets.conftest import bank_sorted_by

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def header_cells(page):
    return page.locator("[data-testid=preview-table] thead th").all_text_contents()[1:]


def test_upload_bank_marketing_through_the_wizard(page, team, celery_worker, screenshots_dir, tmp_path):
    sign_in(page, "bob", "bob-pass-123")
    page.goto("/datasets/")
    page.screenshot(path=screenshots_dir / "datasets-empty.png", full_page=True)
    page.click("[data-testid=create-dataset]")
    page.wait_for_url("**/datasets/new/")  # loaded, so the wizard's script has bound its buttons (slow under load)

    # 1. Basic info: the name is required (and no error shows before Next is pressed).
    assert not page.locator("#name-error").is_visible()
    page.click("[data-panel='1'] [data-next='2']")
    assert page.locator("#name-error").is_visible()
    page.fill("#id_name", "bank-marketing")
    page.fill("#id_description", "Will the client subscribe a term deposit?")
    page.fill("#id_tags", "source=uci, task=classification")
    page.click("[data-panel='1'] [data-next='2']")

    # 2. Upload, with a progress bar that reaches 100 %. The file is sorted by "previous": its first 5,000 rows
    # all say 0, so only the whole file shows that it is a column of a few categories.
    sorted_file = tmp_path / "bank_marketing_train_data.csv"
    sorted_file.write_bytes(bank_sorted_by("previous"))
    page.set_input_files("#file-input", str(sorted_file))
    page.wait_for_selector("[data-testid=preview-table]")
    assert page.locator("#upload-progress .progress-bar").inner_text() == "100%"
    assert page.locator("#upload-done").is_visible()
    assert "bank_marketing_train_data.csv" in page.locator("#upload-done").inner_text()

    # 3. Settings and preview: detected comma; a semicolon re-reads the file as one column.
    assert page.locator("#id_delimiter").input_value() == ","
    assert not page.locator("#field-other_delimiter").is_visible()
    assert header_cells(page)[:3] == ["age", "job", "marital"] and len(header_cells(page)) == 21
    assert page.locator("[data-testid=preview-table] tbody tr").count() == 50
    page.select_option("#id_delimiter", ";")
    page.wait_for_function("document.querySelectorAll('[data-testid=preview-table] thead th').length === 2")
    assert header_cells(page)[0].startswith("age,job,marital,education")
    page.screenshot(path=screenshots_dir / "datasets-wizard-semicolon.png", full_page=True)
    page.select_option("#id_delimiter", ",")
    page.wait_for_function("document.querySelectorAll('[data-testid=preview-table] thead th').length === 22")
    page.screenshot(path=screenshots_dir / "datasets-wizard-preview.png", full_page=True)
    page.click("#to-schema")

    # 4. Schema: the whole-file check replaces the first rows' guess for "previous" and says so.
    page.wait_for_selector("[data-testid=type-scan-done]", timeout=60_000)
    assert page.locator("[data-testid=type-scan-done]").inner_text().strip() == (
        "Types decided on the whole file (29,999 rows): what the profile and experiments will use. 1 column differs "
        "from the first-rows guess and is marked: previous.")
    assert page.locator("[data-detected-for='13']").inner_text() == "categorical"
    assert page.locator("select[data-column='previous']").input_value() == "categorical"
    assert page.locator("[data-detected-for='13'] + .ds-type-was").inner_text() == "first rows suggested numeric"
    # Override "age" to categorical and leave out "duration".
    page.select_option("select[data-column='age']", "categorical")
    page.uncheck("input[aria-label='Include duration']")
    page.screenshot(path=screenshots_dir / "datasets-wizard-schema.png", full_page=True)
    page.click("[data-panel='4'] [data-next='5']")

    # 5. Review and create.
    review = page.locator("#review").inner_text()
    assert "age → categorical" in review and "duration" in review
    page.screenshot(path=screenshots_dir / "datasets-wizard-review.png", full_page=True)
    page.click("#create-button")
    page.wait_for_url("**/datasets/*/?version=1")
    assert "Created bank-marketing version 1 (29,999 rows, 21 columns)" in page.locator(".flash-messages").inner_text()

    # The profile appears by itself when the worker is done (htmx polling), with Plotly charts.
    page.wait_for_selector("[data-testid=profile-summary]", timeout=90_000)
    page.wait_for_selector("[data-testid=correlation-chart] .main-svg")
    # The status badge in the header followed the profile without a reload.
    assert page.locator("[data-testid=version-status]").text_content() == "ready"
    assert page.locator("[data-testid=profile-column]").count() == 21
    assert page.locator("[data-testid=profile-columns] .ds-chart.js-plotly-plot").count() == 21
    assert page.locator("[data-testid=duplicates]").inner_text() == "6"
    page.screenshot(path=screenshots_dir / "datasets-profile.png", full_page=True)
    page.screenshot(path=screenshots_dir / "datasets-profile-top.png")
    page.locator("[data-testid=profile-column]").nth(10).scroll_into_view_if_needed()
    page.screenshot(path=screenshots_dir / "datasets-profile-columns.png")

    # Schema notes are words people read, visible on the page's background.
    notes = page.locator("[data-testid=schema-note]")
    assert "few distinct whole numbers, read as categories" in notes.all_inner_texts()
    assert notes.first.evaluate("e => getComputedStyle(e).color") != "rgb(255, 255, 255)"
    dataset = Dataset.objects.get(name="bank-marketing")
    version = dataset.versions.get()
    columns = {c["name"]: c for c in version.columns}
    assert (columns["age"]["type"], columns["age"]["detected_type"], columns["duration"]["excluded"]) == \
        ("categorical", "numeric", True)
    assert (columns["previous"]["type"], columns["previous"]["detected_type"]) == ("categorical", "categorical")
    assert dataset.tags == {"source": "uci", "task": "classification"}

    page.click("[data-testid=tab-schema]")
    assert page.locator("select[aria-label='Type of age']").input_value() == "categorical"
    page.screenshot(path=screenshots_dir / "datasets-schema.png", full_page=True)
    page.click("[data-testid=tab-versions]")
    assert "none yet" in page.locator("[data-testid=versions-table]").inner_text()
    page.goto("/datasets/")
    page.screenshot(path=screenshots_dir / "datasets-list.png", full_page=True)
