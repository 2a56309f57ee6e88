"""Console accounts and their sign-in state, for security officers (安全审计员)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from console.users import service as users
from console.web import DbDep, Officer, render
from protocol.clock import utcnow

router = APIRouter()


@router.get("/accounts", response_class=HTMLResponse)
def list_accounts(request: Request, session: DbDep, _user: Officer) -> HTMLResponse:
    """Every account: role, last sign-in, failed attempts and whether it is locked now."""
    now = utcnow()
    rows = [(u, (users.aware(u.locked_until) or now) > now) for u in users.list_(session=session)]
    return render(request, "accounts.html", {"active": "accounts", "rows": rows})
