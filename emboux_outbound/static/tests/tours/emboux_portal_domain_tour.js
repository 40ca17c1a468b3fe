import { registry } from "@web/core/registry";
import { createCatchAllMailbox } from "@emboux_saas/../tests/tours/utils/mailbox_steps";

// A customer's domain from start to end in the portal: add it, see the
// records to publish, run the DNS check, add a mailbox with catch-all,
// delete the domain (with its confirmation).
registry.category("web_tour.tours").add("emboux_portal_domain_tour", {
    url: "/my/domains",
    steps: () => [
        {
            content: "Type the new domain",
            trigger: ".o_emboux_domain_create input[name='name']",
            run: "edit Tour-New.example.com",
        },
        {
            content: "Add it",
            trigger: ".o_emboux_domain_create button[type='submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "It was added",
            trigger: ".o_emboux_message:contains('The domain was added')",
        },
        {
            content: "Its page",
            trigger: ".o_emboux_domain_name:contains('tour-new.example.com')",
        },
        {
            content: "The MX record to publish",
            trigger: ".o_emboux_dns tr[data-record-type='MX']:contains('mx.tour-host.test')",
        },
        {
            content: "The SPF record to publish",
            trigger: ".o_emboux_dns tr[data-purpose='SPF']:contains('v=spf1 mx ~all')",
        },
        {
            content: "Run the DNS check",
            trigger: "a.o_emboux_dns_check_run",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The MX is published",
            trigger: ".o_emboux_dns_check_row[data-record-type='MX'][data-status='published']:contains('Published')",
        },
        {
            content: "The SPF is wrong, and the page shows what was found",
            trigger: ".o_emboux_dns_check_row[data-record-type='SPF'][data-status='wrong']:contains('v=spf1 a -all')",
        },
        ...createCatchAllMailbox("hello", "tour-new.example.com"),
        {
            content: "Delete the domain",
            trigger: "button.o_emboux_domain_delete",
            run: "click",
        },
        {
            content: "The confirmation says what goes",
            trigger: "#o_emboux_delete_modal.show .modal-body:contains('1 mailbox(es)')",
        },
        {
            content: "Type the name to confirm",
            trigger: "#o_emboux_delete_modal.show input[name='confirm_name']",
            run: "edit tour-new.example.com",
        },
        {
            content: "Confirm",
            trigger: "#o_emboux_delete_modal.show .o_emboux_delete_confirm",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The domain was deleted",
            trigger: ".o_emboux_message:contains('The domain was deleted')",
        },
        {
            content: "It is no longer listed",
            trigger: "body:not(:has(a:contains('tour-new.example.com')))",
        },
    ],
});
