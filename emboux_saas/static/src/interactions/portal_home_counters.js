import { patch } from "@web/core/utils/patch";
import { PortalHomeCounters } from "@portal/interactions/portal_home_counters";

patch(PortalHomeCounters.prototype, {
    /**
     * A tenant sees its domains and API keys entries even at zero: the
     * API keys page is where the first key is made.
     * @override
     */
    getCountersAlwaysDisplayed() {
        return super
            .getCountersAlwaysDisplayed(...arguments)
            .concat(["emboux_domain_count", "emboux_api_key_count"]);
    },
});
