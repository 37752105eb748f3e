package console

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// pageSize is how many customers a page of the list shows.
const pageSize = 25

// statuses are the account statuses the list filters by.
var statuses = []account.Status{account.StatusScreening, account.StatusManualReview, account.StatusAwaitingPrepayment,
	account.StatusActive, account.StatusPastDue, account.StatusSuspended, account.StatusTerminated}

type customersData struct {
	Query, Status, Stage, RiskTier, MinDays string
	Exemption                               string
	Statuses                                []account.Status
	Customers                               []ops.ListedCustomer
	NextURL                                 string // the next page, empty on the last
	Paged                                   bool   // this is not the first page
}

// customers lists customers by their search attributes, as `starter list`
// does, a page at a time; a customer ID typed in the search box goes
// straight to that customer.
func (s *server) customers(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q := r.URL.Query()
	d := customersData{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Stage: strings.TrimSpace(q.Get("stage")),
		RiskTier: strings.TrimSpace(q.Get("risk_tier")), MinDays: strings.TrimSpace(q.Get("min_days_past_due")), Statuses: statuses,
		Exemption: q.Get("exemption"),
		Paged:     q.Get("page_token") != ""}
	v := s.view(r, rc, "customers.title")
	v.Nav = "customers"
	v.Data = &d
	invalid := func(err error) error {
		v.Error, v.Detail = rc.lang.T("error.invalid"), err.Error()
		s.render(w, http.StatusBadRequest, "customers.html", v)
		return nil
	}
	if d.Query != "" {
		if err := account.ValidateCustomerID(d.Query); err != nil {
			return invalid(err)
		}
		http.Redirect(w, r, Prefix+"customers/"+url.PathEscape(d.Query), http.StatusSeeOther)
		return nil
	}
	f := ops.ListFilter{Status: d.Status, Stage: d.Stage, RiskTier: d.RiskTier, Exemption: d.Exemption, PageSize: pageSize}
	if d.MinDays != "" {
		n, err := strconv.Atoi(d.MinDays)
		if err != nil {
			return invalid(fmt.Errorf("min_days_past_due %q must be a whole number of days", d.MinDays))
		}
		f.MinDaysPastDue = n
	}
	var err error
	if f.PageToken, err = ops.DecodePageToken(q.Get("page_token")); err != nil {
		return invalid(err)
	}
	if err := f.Validate(); err != nil {
		return invalid(err)
	}
	list, next, err := s.Ops.List(r.Context(), f)
	if err != nil {
		return err
	}
	d.Customers = list
	if len(next) > 0 {
		nq := url.Values{}
		for k, val := range map[string]string{"status": d.Status, "stage": d.Stage, "risk_tier": d.RiskTier, "min_days_past_due": d.MinDays, "exemption": d.Exemption} {
			if val != "" {
				nq.Set(k, val)
			}
		}
		nq.Set("page_token", ops.EncodePageToken(next))
		d.NextURL = Prefix + "customers?" + nq.Encode()
	}
	s.render(w, http.StatusOK, "customers.html", v)
	return nil
}

// formError is a refused action, shown on its form with what was typed.
type formError struct {
	Action  ActionName
	Message string
	Form    url.Values
}

type customerData struct {
	V          account.StatusView
	Emails     []store.OutboxMessage
	Audit      []store.AuditEntry
	UIURL      string // the workflow in the Temporal Web UI; empty when not configured
	Failed     *formError
	PaymentKey string // the payment form's idempotency key
	Methods    []string
	Actions    []ActionName
	Disputed   []account.InvoiceView
}

// Val is what a field of the action's form shows: what was typed when the
// action was refused, else def.
func (d *customerData) Val(a ActionName, field, def string) string {
	if d.Failed != nil && d.Failed.Action == a {
		return d.Failed.Form.Get(field)
	}
	return def
}

// BudgetLimit is the budget form's limit: the current one.
func (d *customerData) BudgetLimit() string {
	if d.V.Budget == nil {
		return ""
	}
	return money.Decimal(d.V.Budget.LimitMinor, d.V.Currency)
}

// BudgetPercents is the budget form's notice percents: the current ones.
func (d *customerData) BudgetPercents() string {
	if d.V.Budget == nil {
		return ""
	}
	return joinInts(d.V.Budget.Percents)
}

// ErrorFor is the refusal to show on an action's form.
func (d *customerData) ErrorFor(a ActionName) string {
	if d.Failed != nil && d.Failed.Action == a {
		return d.Failed.Message
	}
	return ""
}

func (s *server) customer(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return s.showCustomer(w, r, rc, http.StatusOK, nil)
}

// showCustomer renders one customer's page: status, invoices with their
// ladders, the audit timeline, emails, reviews and the action forms.
func (s *server) showCustomer(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, failed *formError) error {
	id := r.PathValue("id")
	if err := account.ValidateCustomerID(id); err != nil {
		return ops.Invalid(err)
	}
	st, err := s.Ops.Status(r.Context(), id)
	if err != nil {
		return err
	}
	d := &customerData{V: st, Failed: failed, PaymentKey: "console-" + newSecret()[:22], Methods: paymentMethods, Actions: actionNames}
	if failed != nil && failed.Action == ActPayment {
		d.PaymentKey = failed.Form.Get("payment_id") // the same key: a retry is not a second payment
	}
	for _, inv := range st.Invoices {
		if inv.Disputed {
			d.Disputed = append(d.Disputed, inv)
		}
	}
	// The database's rows: a customer without any yet is not an error.
	if d.Emails, err = s.Ops.Emails(r.Context(), id); err != nil && !errors.Is(err, ops.ErrNotFound) {
		return err
	}
	if d.Audit, err = s.Ops.Audit(r.Context(), id); err != nil && !errors.Is(err, ops.ErrNotFound) {
		return err
	}
	// Newest first: staff read the timeline from the latest event.
	for i, j := 0, len(d.Audit)-1; i < j; i, j = i+1, j-1 {
		d.Audit[i], d.Audit[j] = d.Audit[j], d.Audit[i]
	}
	if s.TemporalUIURL != "" {
		d.UIURL = strings.TrimRight(s.TemporalUIURL, "/") + "/namespaces/" + url.PathEscape(s.Namespace) + "/workflows/" + url.PathEscape(workflows.WorkflowID(id))
	}
	v := s.view(r, rc, "customer.title")
	v.Nav = "customers"
	v.Heading = cmp.Or(st.Name, st.CustomerID)
	v.Data = d
	if key := r.URL.Query().Get("done"); key != "" {
		if a, ok := knownAction(key); ok {
			v.Flash = rc.lang.T("done." + string(a))
		} else if key == "onboard" || key == "duplicate" {
			v.Flash = rc.lang.T("done." + key)
		}
	}
	if failed != nil {
		v.Error = rc.lang.T("action.refused")
	}
	s.render(w, status, "customer.html", v)
	return nil
}

// customerAction runs a staff action's form. Refused, it shows the
// customer again with the message on the form; done, it goes back to the
// customer (a reload does not post again).
func (s *server) customerAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id := r.PathValue("id")
	if err := account.ValidateCustomerID(id); err != nil {
		return ops.Invalid(err)
	}
	name, ok := knownAction(r.PathValue("action"))
	if !ok {
		return &pageError{http.StatusNotFound, "error.not_found", ""}
	}
	st, err := s.Ops.Status(r.Context(), id)
	if err != nil {
		return err
	}
	err = actions[name](r.Context(), s.Ops, id, rc.sess.Actor, r.PostForm, st)
	if errors.Is(err, errAlreadyRecorded) {
		http.Redirect(w, r, Prefix+"customers/"+url.PathEscape(id)+"?done=duplicate", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		pe := s.explain(r, err)
		msg := pe.detail
		if msg == "" {
			msg = rc.lang.T(pe.key)
		}
		return s.showCustomer(w, r, rc, pe.status, &formError{Action: name, Message: msg, Form: r.PostForm})
	}
	s.Logger.Info("console: action", "actor", rc.sess.Actor, "action", string(name), "customer_id", id)
	http.Redirect(w, r, Prefix+"customers/"+url.PathEscape(id)+"?done="+string(name), http.StatusSeeOther)
	return nil
}

type onboardData struct {
	Form        url.Values
	Instruments []account.InstrumentType
}

var instruments = []account.InstrumentType{account.InstrumentBankTransfer, account.InstrumentCard, account.InstrumentPrepaidCard, account.InstrumentStoredValue}

func (s *server) onboardForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	v := s.view(r, rc, "onboard.title")
	v.Nav = "onboard"
	v.Data = onboardData{Form: url.Values{"currency": {"USD"}, "locale": {"en"}, "policy": {"standard"}}, Instruments: instruments}
	s.render(w, http.StatusOK, "onboard.html", v)
	return nil
}

// onboard starts a customer's lifecycle from the form, as POST
// /v1/customers does.
func (s *server) onboard(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	f := r.PostForm
	app := account.Application{CustomerID: f.Get("customer_id"), Name: f.Get("name"), Email: f.Get("email"), Phone: f.Get("phone"),
		Country: f.Get("country"), Currency: strings.ToUpper(strings.TrimSpace(f.Get("currency"))), Locale: f.Get("locale"), Policy: f.Get("policy"),
		PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentType(f.Get("instrument")), CardBIN: f.Get("card_bin")},
		SignupIP:          f.Get("signup_ip")}
	err := func() error {
		fee, err := amountField(f, "monthly_fee", app.Currency)
		if err != nil {
			return err
		}
		app.Plan.MonthlyFeeMinor = fee
		app.Normalize()
		if err := app.Validate(); err != nil {
			return ops.Invalid(err)
		}
		_, _, err = s.Ops.Onboard(r.Context(), app)
		return err
	}()
	if err != nil {
		pe := s.explain(r, err)
		v := s.view(r, rc, "onboard.title")
		v.Nav = "onboard"
		v.Error, v.Detail = rc.lang.T(pe.key), pe.detail
		v.Data = onboardData{Form: f, Instruments: instruments}
		s.render(w, pe.status, "onboard.html", v)
		return nil
	}
	http.Redirect(w, r, Prefix+"customers/"+url.PathEscape(app.CustomerID)+"?done=onboard", http.StatusSeeOther)
	return nil
}

// agingOptions reads the aging page's filters.
func agingOptions(q url.Values) (reports.AgingOptions, error) {
	opts := reports.AgingOptions{Currency: strings.ToUpper(strings.TrimSpace(q.Get("currency")))}
	if st := q.Get("status"); st != "" {
		opts.Statuses = []string{st}
	}
	if err := opts.Validate(); err != nil {
		return opts, ops.Invalid(err)
	}
	return opts, nil
}

type agingData struct {
	Currency, Status string
	Statuses         []account.Status
	Report           reports.AgingReport
	Charts           []chart
	CSVURL           string
}

func (s *server) aging(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q := r.URL.Query()
	d := &agingData{Currency: q.Get("currency"), Status: q.Get("status"), Statuses: statuses, CSVURL: Prefix + "aging.csv?" + q.Encode()}
	v := s.view(r, rc, "aging.title")
	v.Nav = "aging"
	v.Data = d
	opts, err := agingOptions(q)
	if err == nil {
		d.Report, err = s.Ops.Aging(r.Context(), s.Now(), opts)
	}
	if err != nil {
		pe := s.explain(r, err)
		v.Error, v.Detail = rc.lang.T(pe.key), pe.detail
		s.render(w, pe.status, "aging.html", v)
		return nil
	}
	for _, c := range d.Report.Currencies {
		d.Charts = append(d.Charts, agingChart(c))
	}
	s.render(w, http.StatusOK, "aging.html", v)
	return nil
}

// agingCSV downloads the aging report as the API's CSV.
func (s *server) agingCSV(w http.ResponseWriter, r *http.Request, _ *reqCtx) error {
	opts, err := agingOptions(r.URL.Query())
	if err != nil {
		return err
	}
	now := s.Now()
	rep, err := s.Ops.Aging(r.Context(), now, opts)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := reports.WriteCSV(&buf, rep); err != nil {
		return err
	}
	download(w, "aging-"+now.UTC().Format("20060102")+".csv", buf.Bytes())
	return nil
}

func download(w http.ResponseWriter, filename string, body []byte) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

type collectionsData struct {
	Batches []reports.CollectionsBatch
	Latest  string // the batch just exported
}

func (s *server) collections(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	batches, err := s.Ops.CollectionsBatches(r.Context(), 50)
	if err != nil {
		return err
	}
	v := s.view(r, rc, "collections.title")
	v.Nav = "collections"
	d := collectionsData{Batches: batches, Latest: r.URL.Query().Get("batch")}
	switch r.URL.Query().Get("done") {
	case "export":
		v.Flash = rc.lang.T("collections.exported")
	case "nothing":
		v.Flash = rc.lang.T("collections.nothing")
	}
	v.Data = d
	s.render(w, http.StatusOK, "collections.html", v)
	return nil
}

// exportCollections runs an export and goes back to the list, where the
// new batch can be downloaded.
func (s *server) exportCollections(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	var buf bytes.Buffer
	n, err := s.Ops.ExportCollections(r.Context(), &buf, s.Now().UTC())
	if err != nil {
		return err
	}
	s.Logger.Info("console: collections export", "actor", rc.sess.Actor, "rows", n)
	if n == 0 {
		http.Redirect(w, r, Prefix+"collections?done=nothing", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, Prefix+"collections?done=export&batch="+url.QueryEscape(reports.BatchOf(buf.Bytes())), http.StatusSeeOther)
	return nil
}

func (s *server) collectionsBatch(w http.ResponseWriter, r *http.Request, _ *reqCtx) error {
	id := strings.TrimSuffix(r.PathValue("batch"), ".csv")
	var buf bytes.Buffer
	b, err := s.Ops.FetchCollectionsBatch(r.Context(), &buf, id)
	if err != nil {
		return err
	}
	download(w, b.BatchID+".csv", buf.Bytes())
	return nil
}
