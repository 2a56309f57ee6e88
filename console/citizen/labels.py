"""The citizen page's labels, zh and en (merged into console/i18n.py)."""

CITIZEN_LABELS: dict[str, tuple[str, str]] = {
    "citizen.title": ("数据使用记录", "My data use record"),
    "citizen.intro": (
        "登录后可查看哪个部门、在何时、为办理哪项政务服务，读取了您（或您的企业）的哪些数据。",
        "Sign in to see which department read which of your (or your enterprise's) data, when, "
        "and for which government service.",
    ),
    "citizen.login": ("使用统一身份认证登录", "Sign in with the identity provider"),
    "citizen.disabled": (
        "本平台尚未配置身份认证服务，暂不能登录。",
        "No identity provider is configured on this exchange: signing in is not possible yet.",
    ),
    "citizen.logout": ("退出登录", "Sign out"),
    "citizen.bye": ("已退出登录。", "You are signed out."),
    "citizen.expired": ("会话已过期，请重新登录。", "Your session expired: please sign in again."),
    "citizen.signed_in_as": ("已登录：{who}", "Signed in: {who}"),
    "citizen.accesses": ("谁使用了我的数据", "Who read my data"),
    "citizen.accesses_note": (
        "每条记录取自防篡改的审计日志。时间为北京时间；鼠标悬停可见 ISO 8601 时间。",
        "Each entry comes from the tamper-evident audit log. Times are Beijing time; hover for ISO 8601.",
    ),
    "citizen.when": ("时间（北京时间）", "When (Beijing time)"),
    "citizen.department": ("部门", "Department"),
    "citizen.elements": ("数据项", "Data"),
    "citizen.purpose": ("用途（政务服务事项）", "Purpose (service item)"),
    "citizen.case_no": ("办件编号 {case}", "Case {case}"),
    "citizen.outcome": ("结果", "Outcome"),
    "citizen.released": ("已提供 {n} 项", "{n} provided"),
    "citizen.none": ("没有部门读取过您的数据。", "No department has read your data."),
    "citizen.no_older": ("没有更早的记录。", "No older entries."),
    "citizen.newest": ("最新记录", "Newest"),
    "citizen.older": ("更早的记录", "Older"),
    "citizen.consent": ("等待您同意的请求", "Requests waiting for your consent"),
    "citizen.consent_note": (
        "以下部门办理事项时需要您单独同意后才能获取这些敏感个人信息(《个人信息保护法》第二十九条)。",
        "These departments may read these sensitive data for the case shown only with your separate "
        "consent (Personal Information Protection Law, art. 29).",
    ),
    "citizen.consent_until": ("有效期至", "Answer by"),
    "citizen.consent_approve": ("同意", "Approve"),
    "citizen.consent_refuse": ("拒绝", "Refuse"),
    "citizen.consent_none": ("没有等待您同意的请求。", "No request waits for your consent."),
    "citizen.consent_answered": ("最近已处理的请求", "Requests answered lately"),
    "citizen.consent_refused_reason": ("未能处理:{reason}", "Not done: {reason}"),
    "citizen.consent_state.pending": ("等待同意", "waiting"),
    "citizen.consent_state.approved": ("已同意", "approved"),
    "citizen.consent_state.refused": ("已拒绝", "refused"),
    "citizen.consent_state.expired": ("已过期", "expired"),
    "citizen.back": ("返回数据使用记录", "Back to the page"),
    "citizen.unavailable": ("暂时无法完成", "Not possible just now"),
    "citizen.refused": ("登录未成功", "Sign-in failed"),
    "citizen.refused.state": (
        "该登录请求不是本页面发起的，或已过期、已使用。请重新登录。",
        "This sign-in was not started here, or it expired or was already used. Please sign in again.",
    ),
    "citizen.refused.provider": (
        "身份认证服务拒绝了登录请求。",
        "The identity provider refused the sign-in request.",
    ),
    "citizen.refused.code": (
        "无法用身份认证服务返回的授权码换取身份令牌。",
        "The identity provider's code could not be exchanged for an ID token.",
    ),
    "citizen.refused.token": (
        "身份令牌未通过校验（签名、签发方、受众、有效期或 nonce）。",
        "The ID token did not pass the checks (signature, issuer, audience, times or nonce).",
    ),
}
