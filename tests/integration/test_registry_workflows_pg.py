"""Every registry workflow again on PostgreSQL: the unit tests' scenarios, each on a fresh database.

The scenarios live in tests/registry (where they run on SQLite); here each runs against a migrated,
seeded PostgreSQL database through the same HTTP API, so both databases are held to the same rules.
"""

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.registry import test_registry_agreements_workflow as agreements
from tests.registry import test_registry_catalogue_io as catalogue_io
from tests.registry import test_registry_change_events as change_events
from tests.registry import test_registry_coverage_impact as coverage_impact
from tests.registry import test_registry_disputes_handovers as disputes
from tests.registry import test_registry_elements_full as elements
from tests.registrykit import registry_client, seeded_registry

pytestmark = pytest.mark.integration

SCENARIOS: list[Callable[..., None]] = [
    elements.test_an_element_carries_every_attribute_and_its_creation_is_history,
    elements.test_an_update_bumps_the_version_and_records_a_field_diff_with_who_and_why,
    elements.test_status_moves_only_along_allowed_transitions,
    elements.test_superseding_needs_a_successor_and_the_confirmed_impact,
    elements.test_lists_filter_and_search_chinese_english_and_alias_names,
    disputes.test_a_second_department_registering_the_same_code_gets_a_dispute_not_a_second_source,
    disputes.test_a_near_duplicate_opens_a_dispute_naming_the_match,
    disputes.test_resolutions_keep_handover_merge_distinct,
    disputes.test_a_handover_is_proposed_by_the_source_and_accepted_by_the_receiver,
    disputes.test_a_rejected_handover_leaves_the_source_and_a_stale_one_cannot_be_accepted,
    disputes.test_an_alias_points_to_one_element_only,
    agreements.test_request_then_the_source_approves_within_the_deadline,
    agreements.test_unconditional_not_shared_and_unneeded_elements_get_no_agreement,
    agreements.test_read_time_expiry_is_announced,
    agreements.test_overdue_requests_are_listed_with_a_configurable_deadline,
    coverage_impact.test_a_material_needs_every_element_usable_by_the_handling_department,
    coverage_impact.test_revoking_the_agreement_or_retiring_an_element_uncovers_the_material,
    coverage_impact.test_retiring_needs_the_current_impact_token,
    coverage_impact.test_subscriptions_are_managed_with_crud,
    catalogue_io.test_json_import_creates_updates_and_maps_aliases,
    catalogue_io.test_a_bad_row_refuses_the_whole_import_with_a_row_report,
    catalogue_io.test_csv_export_round_trips_and_a_bad_csv_row_is_reported_by_line,
    change_events.test_committed_writes_announce_their_events_in_order,
]


@pytest.fixture
def pg_registry(pg_database: str) -> Iterator[Engine]:
    with seeded_registry(pg_database) as engine:
        yield engine


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__.removeprefix("test_") for s in SCENARIOS])
def test_registry_workflow_on_postgres(pg_registry: Engine, scenario: Callable[..., None]) -> None:
    with registry_client(pg_registry) as (api, seen):
        available: dict[str, Any] = {"api": api, "registry_engine": pg_registry, "api_events": (api, seen)}
        scenario(**{name: available[name] for name in inspect.signature(scenario).parameters})
