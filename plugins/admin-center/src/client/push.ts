/** /admin/assets/push.js: shows the generated CSR, and reads the chosen certificate file into the upload form. */
export const PUSH_JS = `'use strict';
(function () {
  var csrForm = document.getElementById('csr-form');
  if (csrForm) {
    csrForm.addEventListener('api-success', function (event) {
      var pem = event.detail.body.csrPem;
      document.getElementById('csr-pem').value = pem;
      document.getElementById('csr-download').href = URL.createObjectURL(new Blob([pem], { type: 'application/pkcs10' }));
      document.getElementById('csr-output').hidden = false;
    });
  }
  var upload = document.getElementById('upload-form');
  if (!upload) return;
  var file = upload.querySelector('input[type="file"]');
  file.addEventListener('change', function () {
    var chosen = file.files[0];
    var pem = upload.querySelector('[data-upload="pem"]');
    var p12 = upload.querySelector('[data-upload="p12"]');
    pem.value = '';
    p12.value = '';
    if (!chosen) return;
    var reader = new FileReader();
    reader.onload = function () {
      var bytes = new Uint8Array(reader.result);
      var text = new TextDecoder().decode(bytes);
      if (text.indexOf('-----BEGIN') >= 0) { pem.value = text; return; }
      var binary = '';
      for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
      p12.value = btoa(binary);
    };
    reader.readAsArrayBuffer(chosen);
  });
})();
`;
