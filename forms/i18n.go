package forms

import (
	"strings"

	"github.com/wasl-dev/wasl/message"
)

// catalogue is every fixed string of the public pages, in Arabic and
// English (the bank gives the services' titles and the fields' labels). A
// test fails when a key used by a template or the code lacks either.
var catalogue = map[string][2]string{
	// key: {Arabic, English}
	"page.suffix":       {"النموذج الإلكتروني", "Online form"},
	"page.required":     {"مطلوب", "required"},
	"page.optional":     {"اختياري", "optional"},
	"page.send":         {"إرسال الطلب", "Send request"},
	"page.lang":         {"English", "العربية"},
	"page.hours":        {"ساعات العمل:", "Working hours:"},
	"page.honeypot":     {"اترك هذا الحقل فارغًا", "Leave this field empty"},
	"page.privacy":      {"نستخدم بياناتك للرد على طلبك فقط.", "We use your details only to answer your request."},
	"notify.legend":     {"إرسال التأكيد إلى جوالي أيضًا", "Also send the confirmation to my mobile"},
	"notify.none":       {"لا", "No"},
	"notify.sms":        message.SMS.By(),
	"notify.whatsapp":   message.WhatsApp.By(),
	"items.item":        {"المستلزم", "Item"},
	"items.qty":         {"العدد", "Quantity"},
	"items.row":         {"البند {n}", "Row {n}"},
	"summary":           {"لم نتمكن من إرسال الطلب. يرجى تصحيح ما يلي:", "We could not send your request. Please correct the following:"},
	"err.required":      {"هذا الحقل مطلوب.", "This field is required."},
	"err.too_long":      {"النص أطول من {n} حرفًا.", "Please keep it under {n} characters."},
	"err.email":         {"أدخل بريدًا إلكترونيًا صحيحًا، مثل name@example.com.", "Enter a valid email address, such as name@example.com."},
	"err.phone":         {"أدخل رقم جوال صحيحًا، مثل 0551234567.", "Enter a valid mobile number, such as 0551234567."},
	"err.number":        {"أدخل رقمًا صحيحًا.", "Enter a whole number."},
	"err.number_min":    {"أدخل رقمًا لا يقل عن {n}.", "Enter a number of at least {n}."},
	"err.number_max":    {"أدخل رقمًا لا يزيد على {n}.", "Enter a number of at most {n}."},
	"err.date":          {"أدخل تاريخًا صحيحًا.", "Enter a valid date."},
	"err.date_past":     {"اختر اليوم أو تاريخًا قادمًا.", "Choose today or a later date."},
	"err.time":          {"أدخل وقتًا صحيحًا، مثل 09:30.", "Enter a valid time, such as 09:30."},
	"err.choice":        {"اختر واحدًا من الخيارات.", "Choose one of the options."},
	"err.items":         {"أضف بندًا واحدًا على الأقل مع عدده.", "Add at least one item with its quantity."},
	"err.items_qty":     {"أدخل لكل بند عددًا صحيحًا أكبر من صفر.", "Give each item a whole quantity above zero."},
	"err.items_name":    {"اكتب اسم البند الذي أدخلت عدده.", "Name the item you gave a quantity for."},
	"err.file_type":     {"أرفق صورة (JPEG أو PNG أو GIF أو WebP) أو ملف PDF.", "Attach an image (JPEG, PNG, GIF or WebP) or a PDF."},
	"err.file_size":     {"الملف أكبر من {n}.", "The file is larger than {n}."},
	"err.file_again":    {"لم يُحفظ الملف المرفق؛ اختره مرة أخرى قبل الإرسال.", "The attached file was not kept; choose it again before sending."},
	"err.notify_mobile": {"أدخل رقم الجوال لنرسل إليه التأكيد.", "Enter your mobile number so we can send the confirmation there."},
	"err.too_fast":      {"أُرسل النموذج بسرعة كبيرة. راجع البيانات ثم أرسلها مرة أخرى.", "The form was sent very quickly. Please check your details and send it again."},
	"err.expired":       {"بقيت الصفحة مفتوحة مدة طويلة. راجع البيانات ثم أرسلها مرة أخرى.", "The page was open for a long time. Please check your details and send it again."},
	"err.refused":       {"تعذّر قبول هذا الطلب.", "This request could not be accepted."},
	"err.rate_ip":       {"وصلنا عدد كبير من الطلبات من هذا الجهاز. حاول مرة أخرى لاحقًا، أو اتصل بخدمة العملاء.", "We have had many requests from this device. Please try again later, or call customer service."},
	"err.rate_contact":  {"وصلنا عدد كبير من الطلبات منك مؤخرًا، وسنتابع ما أرسلته. للاستعجال اتصل بخدمة العملاء.", "We have had many requests from you recently and will follow them up. If it is urgent, call customer service."},
	"err.too_large":     {"الطلب أكبر من المسموح: حجم الملف حتى {n}.", "The request is too large: files may be up to {n}."},
	"err.unavailable":   {"تعذّر حفظ الطلب الآن. حاول مرة أخرى بعد قليل.", "Your request could not be saved just now. Please try again in a moment."},
	"sent.title":        {"تم استلام طلبك", "We received your request"},
	"sent.ref":          {"رقم طلبك", "Your reference"},
	"sent.keep":         {"احتفظ بهذا الرقم لمتابعة طلبك. سنرسل إليك التأكيد وما يتم على طلبك.", "Keep this reference to follow up your request. We will send you the confirmation and news of your request."},
	"sent.noticket":     {"وصلنا طلبك، وسيتواصل معك ممثل خدمة العملاء.", "We received your request; a customer service representative will contact you."},
	"sent.another":      {"تقديم طلب آخر", "Send another request"},
	"notfound":          {"هذه الصفحة غير موجودة.", "This page does not exist."},
	"index.title":       {"الخدمات الإلكترونية", "Online services"},
	"index.intro":       {"اختر الخدمة التي تحتاجها وعبّئ نموذجها.", "Choose the service you need and fill in its form."},
}

// tr looks key up in lang ("en" gives English, anything else Arabic); an
// unknown key shows as itself, which the catalogue test catches.
func tr(lang, key string) string {
	v, ok := catalogue[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return v[1]
	}
	return v[0]
}

// trn is tr with {n} replaced.
func trn(lang, key, n string) string { return strings.ReplaceAll(tr(lang, key), "{n}", n) }
