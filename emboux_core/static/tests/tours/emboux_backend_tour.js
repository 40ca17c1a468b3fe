import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// The staff backend as an Emboux manager: Emboux > Domains, create a domain;
// Emboux > Mailboxes, create a mailbox on it with a password and Catch-All
// ticked on the creation form; see its SMTP settings; back to the domain and
// suspend it with its button. test_backend_tour.py checks the database.
const DOMAIN = "backend-tour.example.com";
const EMAIL = `info@${DOMAIN}`;
// EMBOUX_SMTP_HOST, set by test_backend_tour.py
const SMTP_HOST = "smtp.backend-tour.test";

registry.category("web_tour.tours").add("emboux_backend_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("emboux_core.menu_emboux_root", "Open the Emboux app"),
        {
            content: "Open Emboux > Domains",
            trigger: ".o_main_navbar [data-menu-xmlid='emboux_core.menu_emboux_domain']",
            run: "click",
        },
        {
            content: "The domain list is shown",
            trigger: ".o_breadcrumb:contains('Domains')",
        },
        {
            content: "New domain",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Type the domain name",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: `edit ${DOMAIN}`,
        },
        ...stepUtils.saveForm(),
        {
            content: "The new domain is active",
            trigger: ".o_form_view .o_field_statusbar button[aria-checked='true']:contains('Active')",
        },
        {
            content: "Open Emboux > Mailboxes",
            trigger: ".o_main_navbar [data-menu-xmlid='emboux_core.menu_emboux_mailbox']",
            run: "click",
        },
        {
            content: "The mailbox list is shown",
            trigger: ".o_breadcrumb:contains('Mailboxes')",
        },
        {
            content: "New mailbox",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Type the address",
            trigger: ".o_form_view .o_field_widget[name='email'] input",
            run: `edit ${EMAIL}`,
        },
        {
            content: "Type the owner's name",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: "edit Info Desk",
        },
        {
            content: "Type the password",
            trigger: ".o_form_view .o_field_widget[name='password'] input",
            run: "edit correct-horse-battery",
        },
        {
            content: "Tick Catch-All on the creation form",
            trigger: ".o_form_view .o_field_widget[name='catch_all'] input[type='checkbox']",
            run: "check",
        },
        {
            content: "Catch-All is ticked",
            trigger: ".o_form_view .o_field_widget[name='catch_all'] input[type='checkbox']:checked",
        },
        ...stepUtils.saveForm(),
        {
            content: "Catch-All is still ticked after saving",
            trigger: ".o_form_view .o_field_widget[name='catch_all'] input[type='checkbox']:checked",
        },
        {
            content: "The domain was set from the address",
            trigger: `.o_form_view .o_field_widget[name='domain_id']:contains('${DOMAIN}')`,
        },
        {
            content: "The SMTP section is shown once saved",
            trigger: ".o_form_view .o_form_sheet:contains('Outgoing Mail (SMTP)')",
        },
        {
            content: "The SMTP host",
            trigger: `.o_form_view .o_field_widget[name='smtp_host']:contains('${SMTP_HOST}')`,
        },
        {
            content: "The SMTP username is the address",
            trigger: `.o_form_view .o_field_widget[name='smtp_user']:contains('${EMAIL}')`,
        },
        {
            content: "Port 465, SSL/TLS, recommended",
            trigger: ".o_form_view .o_field_widget[name='smtp_port_ssl']:contains('465')",
        },
        {
            trigger: ".o_form_view .o_inner_group:has(.o_field_widget[name='smtp_port_ssl']):contains('SSL/TLS'):contains('recommended')",
        },
        {
            content: "Port 587, STARTTLS",
            trigger: ".o_form_view .o_field_widget[name='smtp_port_starttls']:contains('587')",
        },
        {
            trigger: ".o_form_view .o_inner_group:has(.o_field_widget[name='smtp_port_starttls']):contains('STARTTLS')",
        },
        {
            content: "Back to Emboux > Domains",
            trigger: ".o_main_navbar [data-menu-xmlid='emboux_core.menu_emboux_domain']",
            run: "click",
        },
        {
            content: "Open the domain",
            trigger: `.o_list_view .o_data_row td[name='name']:contains('${DOMAIN}')`,
            run: "click",
        },
        {
            content: "It counts one mailbox",
            trigger: ".o_form_view .oe_stat_button[name='action_view_mailboxes']:contains('1')",
        },
        {
            content: "Suspend the domain",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_suspend']",
            run: "click",
        },
        {
            content: "Confirm the suspension",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "The domain is suspended",
            trigger:
                ".o_form_view .o_field_statusbar button[aria-checked='true']:contains('Suspended')",
        },
        {
            content: "The suspension is recorded",
            trigger: ".o_form_view .o_field_widget[name='suspended_by_id']:contains('Tour Manager')",
        },
        {
            content: "The Activate button replaces Suspend",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_activate']",
        },
    ],
});
